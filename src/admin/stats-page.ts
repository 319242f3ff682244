// The /stats page: one self-contained HTML document (no CDN, no build step) that
// refreshes itself from /api/state.
export const STATS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Doorman stats</title>
<style>
  :root { color-scheme: light dark; --up: #1a7f37; --down: #cf222e; --drain: #9a6700; --maint: #6e7781; }
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem; }
  table { border-collapse: collapse; width: 100%; margin-bottom: 1.5rem; }
  th, td { text-align: left; padding: .3rem .5rem; border-bottom: 1px solid #8884; }
  .state { font-weight: 600; padding: 0 .4rem; border-radius: .3rem; color: #fff; }
  .UP { background: var(--up); } .DOWN { background: var(--down); } .DRAIN { background: var(--drain); } .MAINT { background: var(--maint); }
  button { margin-right: .2rem; }
  #error { color: var(--down); }
</style>
</head>
<body>
<h1>Doorman</h1>
<p id="error" role="alert"></p>
<div id="backends">Loading…</div>
<script>
const token = () => sessionStorage.getItem('doorman-token') || '';
async function api(path, init = {}) {
  const headers = { ...(init.headers || {}) };
  if (token()) headers.authorization = 'Bearer ' + token();
  const res = await fetch(path, { ...init, headers });
  if (res.status === 401 || res.status === 403) {
    const t = prompt('Admin token');
    if (t) { sessionStorage.setItem('doorman-token', t); return api(path, init); }
  }
  if (!res.ok) throw new Error(path + ': ' + res.status);
  return res.json();
}
function cell(text) { const td = document.createElement('td'); td.textContent = text; return td; }
function render(state) {
  const root = document.getElementById('backends');
  root.replaceChildren();
  for (const b of state.backends) {
    const h = document.createElement('h2'); h.textContent = b.name + ' (' + b.balance + ', queued ' + b.queued + ')'; root.append(h);
    const table = document.createElement('table');
    table.innerHTML = '<thead><tr><th>server</th><th>address</th><th>state</th><th>health</th><th>active</th><th>queued</th><th>weight</th><th>requests</th><th>errors</th><th>last check</th><th>since</th><th>set</th></tr></thead>';
    const body = document.createElement('tbody');
    for (const s of b.servers) {
      const tr = document.createElement('tr');
      const st = document.createElement('td'); const badge = document.createElement('span');
      badge.className = 'state ' + s.state; badge.textContent = s.state; st.append(badge);
      const check = s.lastCheck ? s.lastCheck.reason + ' (' + s.lastCheck.durationMs + ' ms)' : '—';
      tr.append(cell(s.name), cell(s.address), st, cell(s.health), cell(s.active), cell(s.queued), cell(s.weight), cell(s.requests), cell(s.errors), cell(check), cell(new Date(s.lastChange).toLocaleTimeString()));
      const actions = document.createElement('td');
      for (const target of ['READY', 'DRAIN', 'MAINT']) {
        const btn = document.createElement('button'); btn.textContent = target; btn.disabled = s.adminState === target;
        btn.onclick = () => api('/api/backends/' + encodeURIComponent(b.name) + '/servers/' + encodeURIComponent(s.name) + '/state',
          { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ state: target }) }).then(refresh, showError);
        actions.append(btn);
      }
      tr.append(actions);
      body.append(tr);
    }
    table.append(body); root.append(table);
  }
}
function showError(err) { document.getElementById('error').textContent = String(err); }
async function refresh() { try { render(await api('/api/state')); showError(''); } catch (err) { showError(err); } }
refresh(); setInterval(refresh, 2000);
</script>
</body>
</html>
`;
