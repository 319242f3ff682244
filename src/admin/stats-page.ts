// The /stats page: one self-contained HTML document (no CDN, no build step, works
// offline) that refreshes itself from /api/state. Its script is in stats-script.ts;
// both are inline, so the Content-Security-Policy allows exactly them by hash.
import { createHash } from 'node:crypto';
import { STATS_SCRIPT } from './stats-script.js';

const STYLE = `
:root {
  color-scheme: light dark;
  --bg: #f4f6f8; --card: #ffffff; --fg: #17202b; --muted: #5b6573; --line: #dfe3e8; --head: #f8f9fb;
  --brand: #4f46e5; --focus: #2563eb; --up: #17803a; --down: #d1242f; --drain: #a15c00; --maint: #5b6573; --warn: #a15c00;
  --radius: 10px;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #0d1117; --card: #151b23; --fg: #e6edf3; --muted: #9aa5b1; --line: #2b333d; --head: #1a212a;
    --brand: #818cf8; --focus: #6ea8fe; --up: #3fb950; --down: #f85149; --drain: #e3a42b; --maint: #9aa5b1; --warn: #e3a42b;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.page { max-width: 1280px; margin: 0 auto; padding: 0 1rem 2rem; }
h1, h2, h3 { margin: 0; line-height: 1.2; }
.muted, .meta, .address, .x-axis, .y-top, .y-zero { color: var(--muted); }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.bad { color: var(--down); font-weight: 600; }
.warn { color: var(--warn); font-weight: 600; }
.ok { color: var(--up); }
.visually-hidden { position: absolute !important; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; border-radius: 4px; }

.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1.5rem; padding: 1rem 0; }
.brand { display: flex; align-items: center; gap: .55rem; }
.logo { width: 1.5rem; height: 1.5rem; flex: none; }
.logo rect { fill: var(--brand); }
.logo circle { fill: var(--card); }
.brand .muted { align-self: flex-end; padding-bottom: .1rem; }
.brand h1 { font-size: 1.35rem; letter-spacing: -.01em; }
.summary, .backend-summary { display: flex; flex-wrap: wrap; gap: .3rem .9rem; margin: 0; font-weight: 600; font-variant-numeric: tabular-nums; }
.count { display: inline-flex; align-items: center; gap: .35rem; color: var(--c); }
.count::before { content: ""; width: .55rem; height: .55rem; border-radius: 50%; background: var(--c); }
.count.UP { --c: var(--up); } .count.DRAIN { --c: var(--drain); } .count.MAINT { --c: var(--maint); } .count.DOWN { --c: var(--down); }
.status { margin-left: auto; display: flex; align-items: center; gap: .75rem; color: var(--muted); font-variant-numeric: tabular-nums; }

button { font: inherit; color: inherit; cursor: pointer; }
.link-button { background: none; border: 1px solid var(--line); border-radius: 6px; padding: .25rem .6rem; }
.alert { background: color-mix(in srgb, var(--down) 12%, var(--card)); border: 1px solid var(--down); border-radius: var(--radius); padding: .6rem .9rem; margin: 0 0 1rem; }
.token { display: flex; flex-wrap: wrap; align-items: end; gap: .5rem 1rem; background: var(--card); border: 2px solid var(--focus); border-radius: var(--radius); padding: .9rem 1rem; margin: 0 0 1rem; }
.token p { flex-basis: 100%; margin: 0; }
.token label { display: grid; gap: .2rem; font-weight: 600; }
.token input { font: inherit; padding: .45rem .6rem; border: 1px solid var(--line); border-radius: 6px; background: var(--bg); color: var(--fg); min-width: 18rem; }
.primary { background: var(--focus); color: #fff; border: 0; border-radius: 6px; padding: .5rem 1rem; font-weight: 600; }

.card { background: var(--card); border: 1px solid var(--line); border-radius: var(--radius); margin: 0 0 1rem; overflow: hidden; }
.card > h2, .backend-head { padding: .8rem 1rem; }
.card > h2 { font-size: 1rem; }
.backend-head { display: flex; flex-wrap: wrap; justify-content: space-between; align-items: baseline; gap: .25rem 1rem; }
.backend-head h2 { font-size: 1.1rem; }
.backend-head .meta { margin: .15rem 0 0; font-size: 13px; }
#content.stale { opacity: .55; }

.backend-body { display: grid; grid-template-columns: minmax(0, 1fr) 13rem; gap: 1rem; padding: 0 1rem .75rem; }
.chart { margin: 0; }
.plot { position: relative; height: 120px; border-left: 1px solid var(--line); border-bottom: 1px solid var(--line); }
.plot svg { position: absolute; inset: 0; width: 100%; height: 100%; overflow: visible; }
.plot .grid { stroke: var(--line); stroke-dasharray: 3 4; vector-effect: non-scaling-stroke; }
.plot .line { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; vector-effect: non-scaling-stroke; }
.y-top, .y-zero { position: absolute; left: .35rem; font-size: 11px; }
.y-top { top: -.1rem; }
.y-zero { bottom: .1rem; }
.x-axis { display: flex; justify-content: space-between; font-size: 11px; padding-top: .15rem; }
.legend-title { font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); margin-bottom: .35rem; }
.legend { list-style: none; margin: 0; padding: 0; display: grid; gap: .25rem; }
.legend li { display: grid; grid-template-columns: auto 1fr auto; align-items: center; gap: .5rem; }
.swatch { display: inline-block; width: .7rem; height: .7rem; border-radius: 3px; flex: none; }

.table-wrap { overflow-x: auto; }
table { width: 100%; border-collapse: collapse; }
th { font-size: 11px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); background: var(--head); text-align: left; white-space: nowrap; }
th, td { padding: .55rem .75rem; border-top: 1px solid var(--line); vertical-align: middle; }
th.num { text-align: right; }
td.name { white-space: nowrap; }
td.name .swatch { margin-right: .45rem; }
td.name .address { display: block; font-size: 12px; margin-left: 1.15rem; font-variant-numeric: tabular-nums; }
.tag { display: inline-block; font-size: 11px; font-weight: 600; padding: 0 .35rem; border: 1px solid var(--line); border-radius: 4px; color: var(--muted); }
td.check { max-width: 16rem; }
td.since { white-space: nowrap; font-variant-numeric: tabular-nums; }

tr[class^="state-"] td:first-child { box-shadow: inset 4px 0 var(--row-color, transparent); }
tr.state-UP { --row-color: var(--up); }
tr.state-DOWN { --row-color: var(--down); background: color-mix(in srgb, var(--down) 7%, transparent); }
tr.state-DRAIN { --row-color: var(--drain); }
tr.state-MAINT { --row-color: var(--maint); background: color-mix(in srgb, var(--maint) 8%, transparent); }
tr.going-down { --row-color: var(--warn); }
.badge { display: inline-flex; align-items: center; gap: .35rem; font-size: 12px; font-weight: 700; letter-spacing: .03em; padding: .1rem .5rem; border-radius: 999px;
  color: var(--c); background: color-mix(in srgb, var(--c) 14%, transparent); border: 1px solid color-mix(in srgb, var(--c) 45%, transparent); }
.badge::before { content: ""; width: .5rem; height: .5rem; border-radius: 50%; background: var(--c); }
.badge.UP { --c: var(--up); } .badge.DOWN { --c: var(--down); } .badge.DRAIN { --c: var(--drain); } .badge.MAINT { --c: var(--maint); }
.note { display: block; font-size: 12px; margin-top: .15rem; color: var(--muted); }
.going-down .note { color: var(--warn); font-weight: 600; }

.actions { display: inline-flex; border: 1px solid var(--line); border-radius: 8px; }
.actions button { background: transparent; border: 0; border-left: 1px solid var(--line); padding: .35rem .65rem; font-size: 12px; font-weight: 600; min-height: 2rem; }
.actions button:first-child { border-left: 0; border-radius: 7px 0 0 7px; }
.actions button:last-child { border-radius: 0 7px 7px 0; }
/* Inside the group the ring is drawn inward, so neighbours do not cover it. */
.actions button:focus-visible { outline-offset: -4px; border-radius: 7px; }
.actions button:hover { background: var(--head); }
.actions button[aria-pressed="true"] { color: #fff; background: var(--c); }
.actions button[data-state="READY"] { --c: var(--up); }
.actions button[data-state="DRAIN"] { --c: var(--drain); }
.actions button[data-state="MAINT"] { --c: var(--maint); }
.actions[aria-busy="true"] { opacity: .6; cursor: progress; }
@media (prefers-color-scheme: dark) { .actions button[aria-pressed="true"] { color: #0d1117; } }

@keyframes changed { from { background: color-mix(in srgb, var(--focus) 25%, transparent); } }
tr.changed td { animation: changed 2s ease-out; }
@media (prefers-reduced-motion: reduce) { tr.changed td { animation: none; } }

/* Phones: every table row becomes a small card of labelled values, four to a line. */
@media (max-width: 760px) {
  .page { padding: 0 .6rem 1.5rem; }
  .status { margin-left: 0; }
  .backend-body { grid-template-columns: 1fr; }
  .legend { display: flex; flex-wrap: wrap; gap: .25rem 1rem; }
  .legend li { display: flex; gap: .4rem; }
  table.stack thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.stack, table.stack tbody, table.stack td { display: block; }
  table.stack tr { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); gap: .5rem .6rem; padding: .75rem .9rem; border-top: 1px solid var(--line); }
  table.stack td { border: 0; padding: 0; text-align: left; box-shadow: none !important; white-space: normal; }
  table.stack td::before { content: attr(data-label); display: block; font-size: 10px; font-weight: 600; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
  table.stack td.name, table.stack td.state, table.stack td.check, table.stack td.wide { grid-column: span 2; }
  table.stack td.actions-cell { grid-column: 1 / -1; }
  table.stack td.name::before, table.stack td.state::before, table.stack td.actions-cell::before { display: none; }
  table.stack td.state { text-align: right; }
  table.stack tr[class^="state-"] { box-shadow: inset 4px 0 var(--row-color, transparent); }
  td.check { max-width: none; }
  .actions { display: flex; }
  .actions button { flex: 1; min-height: 2.75rem; font-size: 13px; }
  .token input { min-width: 0; width: 100%; }
  .token label { flex: 1 1 100%; }
}
`;

const BODY = `
<div class="page">
  <header class="top">
    <div class="brand"><svg class="logo" viewBox="0 0 16 16" aria-hidden="true"><rect x="3" y="1" width="10" height="14" rx="1.5"/><circle cx="10.3" cy="8.5" r="1.1"/></svg><h1>Doorman</h1><span id="where" class="muted"></span></div>
    <p id="summary" class="summary" aria-live="off"></p>
    <div class="status"><span><span id="updated">loading…</span> · <span id="refresh-note"></span></span>
      <button type="button" id="forget-token" class="link-button" hidden>Forget token</button></div>
  </header>
  <p id="alert" class="alert" role="alert" hidden></p>
  <form id="token-form" class="token" hidden>
    <p id="token-message"></p>
    <label for="token">Admin token<input id="token" type="password" autocomplete="current-password" spellcheck="false"></label>
    <button type="submit" class="primary">Use token</button>
  </form>
  <div id="announcer" class="visually-hidden" role="status" aria-live="polite"></div>
  <main id="content" aria-busy="true">
    <section id="frontends" class="card" aria-labelledby="frontends-title" hidden>
      <h2 id="frontends-title">Frontends</h2>
      <div class="table-wrap"><table class="stack" aria-labelledby="frontends-title">
        <thead><tr><th scope="col">Frontend</th><th scope="col">Listens on</th><th scope="col">Sends to</th>
          <th scope="col" class="num">Connections</th><th scope="col" class="num">Req/s</th><th scope="col" class="num">Errors/s</th></tr></thead>
        <tbody id="frontend-rows"></tbody>
      </table></div>
    </section>
    <div id="backends"></div>
  </main>
  <noscript><p class="alert">This page needs JavaScript to read /api/state. The same data: <a href="/api/state">/api/state</a>, <a href="/metrics">/metrics</a>.</p></noscript>
</div>
`;

// A tiny door as the tab icon, inline so the browser asks for no /favicon.ico.
const ICON =
  "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'%3E%3Crect x='3' y='1' width='10' height='14' rx='1.5' fill='%234f46e5'/%3E%3Ccircle cx='10.5' cy='8.5' r='1.1' fill='%23fff'/%3E%3C/svg%3E";

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The whole page. */
export const STATS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>Doorman stats</title>
<link rel="icon" href="${ICON}">
<style>${STYLE}</style>
</head>
<body>${BODY}<script>${STATS_SCRIPT}</script>
</body>
</html>
`;

/**
 * The page's Content-Security-Policy: its own inline script and style (by hash), calls to
 * this listener only, and no framing (the page's buttons change servers' states).
 */
export const STATS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(STATS_SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "img-src data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
