// The /stats page's script: browser TypeScript, no library. tsc (src/admin/ui/tsconfig.json)
// compiles it to dist/admin/ui/stats.js, which stats-page.ts inlines into the page as one
// classic script: so this file must stay a script (no import/export). It polls /api/state,
// keeps a few minutes of counter samples to draw rates, and updates the page in place
// (rows keep their focus).
(() => {
  // ---- what /api/state answers (src/admin/server-control.ts, src/frontend/frontend-stats.ts) ----

  type ServerState = 'UP' | 'DOWN' | 'DRAIN' | 'MAINT';
  type AdminState = (typeof ADMIN_STATES)[number];

  interface CheckSettings {
    readonly path: string;
    readonly intervalMs: number;
    readonly timeoutMs: number;
    readonly rise: number;
    readonly fall: number;
  }

  interface ServerView {
    readonly name: string;
    readonly address: string;
    readonly state: ServerState;
    readonly adminState: AdminState;
    readonly health: string;
    readonly healthCounter: number | null;
    readonly active: number;
    readonly queued: number;
    readonly weight: number;
    /** Below `weight` while slow start ramps the server up. */
    readonly effectiveWeight: number;
    readonly maxconn: number;
    readonly lastCheck: { status: 'ok' | 'failed'; code: number | null; durationMs: number; reason: string; at: string } | null;
    readonly lastChange: string;
    readonly requests: number;
    readonly errors: number;
  }

  interface BackendView {
    readonly name: string;
    readonly balance: string;
    readonly queued: number;
    readonly check: CheckSettings | null;
    readonly servers: readonly ServerView[];
  }

  interface RouteView {
    readonly name: string;
    readonly action: {
      readonly kind: 'backend' | 'redirect' | 'respond';
      readonly backend?: string;
      readonly status?: number;
      readonly to?: string;
    };
    readonly hits: number;
  }

  interface FrontendView {
    readonly routes?: readonly RouteView[];
    readonly name: string;
    readonly bind: string;
    readonly tls: boolean;
    readonly backend: string | null;
    readonly redirect: string | null;
    readonly connections: number;
    readonly requests: number;
    readonly errors: number;
  }

  interface StateView {
    readonly now: string;
    readonly frontends?: readonly FrontendView[];
    readonly backends: readonly BackendView[];
  }

  /** One certificate of /api/certs (src/acme/inventory.ts). */
  interface CertificateView {
    readonly frontend: string;
    readonly names: readonly string[];
    readonly issuer: string | null;
    readonly notAfter: string | null;
    readonly source: 'file' | 'acme';
    readonly nextRenewal: string | null;
    readonly acme?: {
      readonly challenge: string;
      readonly ordering: boolean;
      readonly failures: number;
      readonly lastError: string | null;
    };
  }

  // ---- settings -----------------------------------------------------------------------

  const params = new URLSearchParams(location.search);
  /** ?refresh=SECONDS, at least half a second. */
  const REFRESH_MS = Math.max(500, (Number(params.get('refresh')) || 2) * 1000);
  /** How much history the charts keep and show at most. */
  const HISTORY_MS = 5 * 60 * 1000;
  /** The chart spans at least this much, so the first samples do not fill it edge to edge. */
  const MIN_SPAN_MS = 60 * 1000;
  /** Table rates are averaged over this window: steadier than one refresh interval. */
  const RATE_WINDOW_MS = 10 * 1000;
  /** A longer pause between samples (a sleeping laptop, Doorman away) breaks the chart line. */
  const GAP_MS = Math.max(3 * REFRESH_MS, 10 * 1000);
  const TOKEN_KEY = 'doorman-token';
  /** Chart line colours by server position: distinct from the state colours, readable light and dark. */
  const COLORS = ['#3b82f6', '#f59e0b', '#a855f7', '#14b8a6', '#ec4899', '#84cc16', '#f97316', '#06b6d4'];
  /**
   * The operator states, one button each. A copy of `AdminState` in src/backend/server.ts:
   * this script is inlined as one classic script, so it cannot import node code.
   */
  const ADMIN_STATES = ['READY', 'DRAIN', 'MAINT'] as const;
  const STATES: readonly ServerState[] = ['UP', 'DRAIN', 'MAINT', 'DOWN'];
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const CHART_W = 600;
  const CHART_H = 120;

  /** The page's element with this id; the page is ours, so a missing one is a bug worth throwing for. */
  function $<T extends HTMLElement = HTMLElement>(id: string, type?: abstract new () => T): T {
    const node = document.getElementById(id);
    if (!(node instanceof (type ?? HTMLElement))) throw new Error(`#${id} is missing from the page`);
    return node as T;
  }

  type Attrs = Readonly<Record<string, string | number | boolean | null | undefined>> | null;

  /** Creates an element: attrs are attributes (false and null skip), children strings or nodes. */
  function el(tag: `svg:${string}`, attrs: Attrs, ...children: Array<string | Node>): SVGElement;
  function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs, ...children: Array<string | Node>): HTMLElementTagNameMap[K];
  function el(tag: string, attrs?: Attrs, ...children: Array<string | Node>): Element {
    const node = tag.startsWith('svg:') ? document.createElementNS(SVG_NS, tag.slice(4)) : document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === false || value === null || value === undefined) continue;
      node.setAttribute(name, value === true ? '' : String(value));
    }
    node.append(...children);
    return node;
  }

  /** Sets text only when it changed: no needless layout, and screen readers do not re-read the cell. */
  function setText(node: Node, text: string): void {
    if (node.textContent !== text) node.textContent = text;
  }

  /** Rebuilds a node's content only when its signature changed (same reason as setText). */
  function rebuild(node: HTMLElement, signature: string, build: () => Array<string | Node>): void {
    if (node.dataset.signature === signature) return;
    node.dataset.signature = signature;
    node.replaceChildren(...build());
  }

  /** A colour square; set through the CSSOM, which the page's CSP allows (a style attribute it would not). */
  function swatch(color: string): HTMLSpanElement {
    const node = el('span', { class: 'swatch', 'aria-hidden': 'true' });
    node.style.background = color;
    return node;
  }

  function setAttr(node: Element, name: string, value: string | null): void {
    if (value === null) node.removeAttribute(name);
    else if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  }

  function errorText(err: unknown): string {
    return err instanceof Error && err.message ? err.message : String(err);
  }

  // ---- formatting -------------------------------------------------------------------

  function formatRate(perSecond: number | null): string {
    if (perSecond === null) return '–';
    if (perSecond === 0) return '0';
    if (perSecond < 0.1) return '<0.1';
    return perSecond < 10 ? perSecond.toFixed(1) : String(Math.round(perSecond));
  }

  function formatAge(ms: number): string {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${s % 60} s`;
    const h = Math.floor(m / 60);
    if (h < 24) return `${h} h ${m % 60} min`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }

  function formatSpan(ms: number): string {
    if (ms < 1000) return `${ms} ms`;
    const s = Math.round(ms / 1000);
    return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
  }

  /** 1, 2, 5, 10, 20, 50, ...: the smallest at or above v, for the chart's top line. */
  function niceCeil(v: number): number {
    if (v <= 1) return 1;
    const power = Math.pow(10, Math.floor(Math.log10(v)));
    for (const step of [1, 2, 5, 10]) if (step * power >= v) return step * power;
    return 10 * power;
  }

  // ---- counter history and rates ----------------------------------------------------

  interface Sample {
    readonly t: number;
    readonly requests: number;
    readonly errors: number;
  }

  interface Rates {
    readonly requests: number | null;
    readonly errors: number | null;
  }

  /** Counter samples by key ("s:web/web1", "f:https"), oldest first, on the balancer's clock. */
  const history = new Map<string, Sample[]>();

  function record(key: string, t: number, requests: number, errors: number): Sample[] {
    let samples = history.get(key);
    if (!samples) history.set(key, (samples = []));
    const last = samples[samples.length - 1];
    if (last && t <= last.t) return samples;
    // Counters going back mean Doorman restarted: the old samples say nothing about now.
    if (last && (requests < last.requests || errors < last.errors)) samples.length = 0;
    samples.push({ t, requests, errors });
    while (samples.length > 2 && (samples[1]?.t ?? t) < t - HISTORY_MS) samples.shift();
    return samples;
  }

  /** Requests and errors per second over the last RATE_WINDOW_MS; null before two samples. */
  function ratesOf(samples: readonly Sample[]): Rates {
    const last = samples[samples.length - 1];
    if (!last) return { requests: null, errors: null };
    let first = samples.find((s) => s.t >= last.t - RATE_WINDOW_MS);
    if (first === last) first = samples[samples.length - 2];
    if (!first || last.t - first.t > GAP_MS + RATE_WINDOW_MS) return { requests: null, errors: null };
    const seconds = (last.t - first.t) / 1000;
    return { requests: (last.requests - first.requests) / seconds, errors: (last.errors - first.errors) / seconds };
  }

  interface Point {
    readonly t: number;
    readonly v: number;
  }

  /** The request rate between successive samples: the chart's points, null where the line breaks. */
  function seriesOf(samples: readonly Sample[]): Array<Point | null> {
    const points: Array<Point | null> = [];
    samples.forEach((b, i) => {
      const a = samples[i - 1];
      if (!a) return;
      if (b.t - a.t > GAP_MS) points.push(null);
      points.push({ t: b.t, v: ((b.requests - a.requests) * 1000) / (b.t - a.t) });
    });
    return points;
  }

  // ---- the admin API and its token --------------------------------------------------

  class TokenNeeded extends Error {}

  function storedToken(): string {
    try {
      return sessionStorage.getItem(TOKEN_KEY) || '';
    } catch {
      return '';
    }
  }

  async function api(path: string, init?: RequestInit): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (init && init.body) headers['content-type'] = 'application/json';
    const token = storedToken();
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(path, { cache: 'no-store', ...init, headers });
    if (res.status === 401 || res.status === 403) {
      askForToken(
        res.status === 403
          ? 'Doorman refused that token. Try again:'
          : 'This Doorman asks for its admin token (admin.token in its config).',
      );
      throw new TokenNeeded();
    }
    if (!res.ok) {
      const text = (await res.text()).trim();
      throw new Error(`${path} answered ${res.status}${text ? `: ${text}` : ''}`);
    }
    return res.json();
  }

  let waitingForToken = false;

  function askForToken(message: string): void {
    waitingForToken = true;
    const form = $('token-form');
    setText($('token-message'), message);
    const wasHidden = form.hidden;
    form.hidden = false;
    if (wasHidden) $('token').focus();
  }

  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const input = $('token', HTMLInputElement);
    const value = input.value.trim();
    if (!value) {
      input.focus();
      return;
    }
    try {
      sessionStorage.setItem(TOKEN_KEY, value);
    } catch {
      // No sessionStorage (a locked-down browser): the token lasts until the page closes.
    }
    input.value = '';
    $('token-form').hidden = true;
    $('forget-token').hidden = false;
    waitingForToken = false;
    refreshNow();
  });

  $('forget-token').addEventListener('click', () => {
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // Nothing stored, then: nothing to forget.
    }
    $('forget-token').hidden = true;
    refreshNow();
  });
  $('forget-token').hidden = !storedToken();

  // ---- announcements for screen readers ---------------------------------------------

  const lastStates = new Map<string, string>();

  function announce(text: string): void {
    const region = $('announcer');
    const line = el('p', null, text);
    region.append(line);
    while (region.childElementCount > 3) region.firstElementChild?.remove();
  }

  // ---- health wording ---------------------------------------------------------------

  interface Note {
    readonly direction: 'up' | 'down' | null;
    readonly text: string;
  }

  /** HAProxy's words from its counter: "going down 2/3" (two more failed checks to DOWN), "going up 1/2". */
  function healthProgress(server: ServerView, check: CheckSettings | null): Note | null {
    if (!check || server.healthCounter === null) return null;
    const c = server.healthCounter;
    const max = check.rise + check.fall - 1;
    if (c >= check.rise && c < max) return { direction: 'down', text: `going down ${c - check.rise + 1}/${check.fall}` };
    if (c < check.rise && c > 0) return { direction: 'up', text: `going up ${c}/${check.rise}` };
    return null;
  }

  function stateNote(server: ServerView, check: CheckSettings | null): Note | null {
    const progress = healthProgress(server, check);
    if (progress) return progress;
    if (server.state === 'DOWN' && server.adminState !== 'READY') return { direction: null, text: `set to ${server.adminState}` };
    if (server.state === 'MAINT' && check && server.healthCounter !== null && server.healthCounter < check.rise)
      return { direction: 'down', text: 'checks failing' };
    return null;
  }

  // ---- frontends --------------------------------------------------------------------

  interface FrontendRow {
    readonly row: HTMLTableRowElement;
    readonly cells: Readonly<Record<'name' | 'bind' | 'route' | 'connections' | 'rate' | 'errors', HTMLTableCellElement>>;
  }

  const frontendRows = new Map<string, FrontendRow>();

  function frontendRow(name: string): FrontendRow {
    const cells = {
      name: el('td', { class: 'name', 'data-label': 'Frontend' }),
      bind: el('td', { class: 'wide', 'data-label': 'Listens on' }),
      route: el('td', { 'data-label': 'Sends to' }),
      // Short label: on a phone it shares a line with three others.
      connections: el('td', { class: 'num', 'data-label': 'Conns' }),
      rate: el('td', { class: 'num', 'data-label': 'Req/s' }),
      errors: el('td', { class: 'num', 'data-label': 'Errors/s' }),
    };
    const row = el('tr', { 'data-frontend': name }, ...Object.values(cells));
    const entry = { row, cells };
    frontendRows.set(name, entry);
    return entry;
  }

  /** A route's action in a few words: its backend, or the status it answers. */
  function describeAction(action: RouteView['action']): string {
    if (action.kind === 'backend') return action.backend ?? '';
    if (action.kind === 'redirect') return `${action.status ?? ''} ${action.to ?? ''}`;
    return `answers ${action.status ?? ''}`;
  }

  function updateFrontends(frontends: readonly FrontendView[], now: number): void {
    const body = $('frontend-rows');
    $('frontends').hidden = frontends.length === 0;
    const seen = new Set<string>();
    frontends.forEach((f, i) => {
      seen.add(f.name);
      const { row, cells } = frontendRows.get(f.name) || frontendRow(f.name);
      if (body.children[i] !== row) body.insertBefore(row, body.children[i] || null);
      setText(cells.name, f.name);
      rebuild(cells.bind, f.bind + String(f.tls), () => [`${f.bind} `, el('span', { class: 'tag' }, f.tls ? 'TLS' : 'plain')]);
      const routes = f.routes ?? [];
      const fallback = f.redirect ? `redirect to ${f.redirect}` : f.backend || (routes.length > 0 ? '404' : '–');
      if (routes.length === 0) setText(cells.route, fallback);
      else
        rebuild(cells.route, JSON.stringify([fallback, routes]), () => [
          el(
            'ul',
            { class: 'routes' },
            ...routes.map((r) =>
              el('li', {}, `${r.name} → ${describeAction(r.action)} `, el('span', { class: 'muted' }, `${r.hits} hits`)),
            ),
            el('li', {}, `else → ${fallback}`),
          ),
        ]);
      setText(cells.connections, String(f.connections));
      const rates = ratesOf(record(`f:${f.name}`, now, f.requests, f.errors));
      setText(cells.rate, formatRate(rates.requests));
      setText(cells.errors, formatRate(rates.errors));
      cells.errors.classList.toggle('bad', (rates.errors ?? 0) > 0);
    });
    for (const [name, entry] of frontendRows) {
      if (seen.has(name)) continue;
      entry.row.remove();
      frontendRows.delete(name);
    }
  }

  // ---- backends ---------------------------------------------------------------------

  type ServerCell = 'name' | 'state' | 'active' | 'queued' | 'rate' | 'errors' | 'check' | 'weight' | 'since' | 'actions';

  interface ServerRow {
    readonly row: HTMLTableRowElement;
    readonly cells: Readonly<Record<ServerCell, HTMLTableCellElement>>;
    readonly mark: HTMLSpanElement;
    readonly address: HTMLSpanElement;
    readonly badge: HTMLSpanElement;
    readonly note: HTMLSpanElement;
    readonly buttons: readonly HTMLButtonElement[];
  }

  interface BackendSection {
    readonly section: HTMLElement;
    readonly meta: HTMLParagraphElement;
    readonly summary: HTMLParagraphElement;
    readonly plot: SVGElement;
    readonly yTop: HTMLSpanElement;
    readonly xStart: HTMLSpanElement;
    readonly legend: HTMLUListElement;
    readonly rows: HTMLTableSectionElement;
    readonly servers: Map<string, ServerRow>;
  }

  /** One server's chart line and legend entry. */
  interface Line {
    readonly name: string;
    readonly color: string;
    readonly samples: readonly Sample[];
    readonly rate: number | null;
  }

  const backendViews = new Map<string, BackendSection>();

  function backendView(name: string): BackendSection {
    const id = `backend-${backendViews.size}`;
    const title = el('h2', { id: `${id}-title` }, name);
    const meta = el('p', { class: 'meta' });
    const summary = el('p', { class: 'backend-summary' });
    const plot = el('svg:svg', {
      viewBox: `0 0 ${CHART_W} ${CHART_H}`,
      preserveAspectRatio: 'none',
      'aria-hidden': 'true',
      focusable: 'false',
    });
    const yTop = el('span', { class: 'y-top' });
    const xStart = el('span', { class: 'x-start' });
    const legend = el('ul', { class: 'legend' });
    const chart = el(
      'figure',
      { class: 'chart', role: 'img', 'aria-labelledby': `${id}-chart-caption` },
      el('div', { class: 'plot' }, plot, yTop, el('span', { class: 'y-zero' }, '0')),
      el('div', { class: 'x-axis' }, xStart, el('span', null, 'now')),
      el('figcaption', { id: `${id}-chart-caption`, class: 'visually-hidden' }, `Requests per second per server of ${name}`),
    );
    const rows = el('tbody');
    const table = el(
      'table',
      { class: 'servers stack', 'aria-labelledby': `${id}-title` },
      el(
        'thead',
        null,
        el(
          'tr',
          null,
          el('th', { scope: 'col' }, 'Server'),
          el('th', { scope: 'col' }, 'State'),
          el('th', { scope: 'col', class: 'num' }, 'Active'),
          el('th', { scope: 'col', class: 'num' }, 'Queued'),
          el('th', { scope: 'col', class: 'num' }, 'Req/s'),
          el('th', { scope: 'col', class: 'num' }, 'Errors/s'),
          el('th', { scope: 'col' }, 'Last check'),
          el('th', { scope: 'col', class: 'num' }, 'Weight'),
          el('th', { scope: 'col' }, 'Since'),
          el('th', { scope: 'col' }, 'Set'),
        ),
      ),
      rows,
    );
    const section = el(
      'section',
      { class: 'backend card', 'aria-labelledby': `${id}-title`, 'data-backend': name },
      el('header', { class: 'backend-head' }, el('div', null, title, meta), summary),
      el(
        'div',
        { class: 'backend-body' },
        chart,
        el('div', { class: 'legend-box' }, el('h3', { class: 'legend-title' }, 'Req/s by server'), legend),
      ),
      el('div', { class: 'table-wrap' }, table),
    );
    const view = { section, meta, summary, plot, yTop, xStart, legend, rows, servers: new Map<string, ServerRow>() };
    backendViews.set(name, view);
    return view;
  }

  function serverRow(backendName: string, name: string): ServerRow {
    const mark = swatch('transparent');
    const label = el('strong', null, name);
    const address = el('span', { class: 'address' });
    const badge = el('span', { class: 'badge' });
    const note = el('span', { class: 'note' });
    const buttons = ADMIN_STATES.map((target) => {
      const button = el('button', { type: 'button', 'data-state': target, 'aria-pressed': 'false' }, target);
      button.addEventListener('click', () => void setAdminState(backendName, name, target, group));
      return button;
    });
    const group = el('div', { class: 'actions', role: 'group', 'aria-label': `Set ${backendName}/${name} to` }, ...buttons);
    const cells = {
      name: el('td', { class: 'name', 'data-label': 'Server' }, mark, label, address),
      state: el('td', { class: 'state', 'data-label': 'State' }, badge, note),
      active: el('td', { class: 'num', 'data-label': 'Active' }),
      queued: el('td', { class: 'num', 'data-label': 'Queued' }),
      rate: el('td', { class: 'num', 'data-label': 'Req/s' }),
      errors: el('td', { class: 'num', 'data-label': 'Errors/s' }),
      check: el('td', { class: 'check', 'data-label': 'Last check' }),
      weight: el('td', { class: 'num', 'data-label': 'Weight' }),
      since: el('td', { class: 'since', 'data-label': 'Since' }),
      actions: el('td', { class: 'actions-cell', 'data-label': 'Set state' }, group),
    };
    const row = el('tr', { 'data-server': name }, ...Object.values(cells));
    return { row, cells, mark, address, badge, note, buttons };
  }

  function updateServer(view: BackendSection, backend: BackendView, s: ServerView, index: number, now: number): Line {
    const entry = view.servers.get(s.name) || serverRow(backend.name, s.name);
    view.servers.set(s.name, entry);
    const { row, cells } = entry;
    if (view.rows.children[index] !== row) view.rows.insertBefore(row, view.rows.children[index] || null);

    // The index modulo the length is always in range.
    const color = COLORS[index % COLORS.length]!;
    entry.mark.style.background = color;
    setText(entry.address, s.address);
    const note = stateNote(s, backend.check);
    setAttr(row, 'class', `state-${s.state}${note && note.direction === 'down' ? ' going-down' : ''}`);
    setText(entry.badge, s.state);
    setAttr(entry.badge, 'class', `badge ${s.state}`);
    setText(entry.note, note ? note.text : '');
    setAttr(cells.state, 'title', s.health);

    setText(cells.active, String(s.active) + (s.maxconn > 0 ? ` / ${s.maxconn}` : ''));
    setText(cells.queued, String(s.queued));
    cells.queued.classList.toggle('warn', s.queued > 0);

    const samples = record(`s:${backend.name}/${s.name}`, now, s.requests, s.errors);
    const rates = ratesOf(samples);
    setText(cells.rate, formatRate(rates.requests));
    setText(cells.errors, formatRate(rates.errors));
    cells.errors.classList.toggle('bad', (rates.errors ?? 0) > 0);

    const check = s.lastCheck;
    if (!check) {
      rebuild(cells.check, 'none', () => [el('span', { class: 'muted' }, backend.check ? 'not yet' : 'no check')]);
    } else {
      const ok = check.status === 'ok';
      const what = ok ? String(check.code) : check.reason;
      rebuild(cells.check, what + String(check.durationMs), () => [
        el(
          'span',
          { class: ok ? 'ok' : 'bad' },
          el('span', { 'aria-hidden': 'true' }, ok ? '✓ ' : '✗ '),
          el('span', { class: 'visually-hidden' }, ok ? 'passed: ' : 'failed: '),
          what,
        ),
        el('span', { class: 'muted' }, ` · ${check.durationMs} ms`),
      ]);
      setAttr(cells.check, 'title', `checked at ${new Date(check.at).toLocaleTimeString()}`);
    }
    // Slow start: the weight in use now, then the one it ramps to.
    const ramping = s.effectiveWeight < s.weight;
    setText(cells.weight, ramping ? `${s.effectiveWeight.toFixed(2)} → ${s.weight}` : String(s.weight));
    setAttr(
      cells.weight,
      'title',
      ramping ? `slow start: ${Math.round((s.effectiveWeight / s.weight) * 100)} % of weight ${s.weight}` : null,
    );
    setText(cells.since, formatAge(now - Date.parse(s.lastChange)));
    setAttr(cells.since, 'title', `since ${new Date(s.lastChange).toLocaleString()}`);
    // Weight 0 takes no new clients: worth a colour.
    cells.weight.classList.toggle('warn', s.weight === 0);
    for (const button of entry.buttons) setAttr(button, 'aria-pressed', String(button.dataset.state === s.adminState));

    // Announce changes, not the first look.
    const key = `${backend.name}/${s.name}`;
    const said = s.state + (note ? `, ${note.text}` : '');
    const before = lastStates.get(key);
    lastStates.set(key, said);
    if (before !== undefined && before !== said) {
      announce(`${key} is ${said}${check && check.status !== 'ok' ? ` (${check.reason})` : ''}`);
      row.classList.remove('changed');
      row.getBoundingClientRect(); // a reflow: restarts the highlight animation
      row.classList.add('changed');
    }
    return { name: s.name, color, samples, rate: rates.requests };
  }

  function drawChart(view: BackendSection, lines: readonly Line[], now: number): void {
    let oldest = now;
    for (const line of lines) if (line.samples[0]) oldest = Math.min(oldest, line.samples[0].t);
    const span = Math.min(HISTORY_MS, Math.max(MIN_SPAN_MS, now - oldest));
    const start = now - span;
    const series = lines.map((line) => ({ color: line.color, points: seriesOf(line.samples).filter((p) => p === null || p.t >= start) }));
    let max = 0;
    for (const { points } of series) for (const p of points) if (p) max = Math.max(max, p.v);
    const top = niceCeil(max);
    const x = (t: number) => (((t - start) / span) * CHART_W).toFixed(1);
    const y = (v: number) => (CHART_H - (v / top) * (CHART_H - 4)).toFixed(1);

    const grid = [0.25, 0.5, 0.75].map((f) => el('svg:line', { x1: 0, x2: CHART_W, y1: CHART_H * f, y2: CHART_H * f, class: 'grid' }));
    const paths = series.map(({ color, points }) => {
      let d = '';
      let pen = 'M';
      for (const p of points) {
        if (!p) {
          pen = 'M';
          continue;
        }
        d += `${pen}${x(p.t)} ${y(p.v)} `;
        pen = 'L';
      }
      return el('svg:path', { d: d.trim() || `M0 ${CHART_H}`, stroke: color, class: 'line' });
    });
    view.plot.replaceChildren(...grid, ...paths);
    setText(view.yTop, `${formatRate(top)} req/s`);
    setText(view.xStart, `−${formatSpan(span)}`);

    view.legend.replaceChildren(
      ...lines.map((line) =>
        el(
          'li',
          null,
          swatch(line.color),
          el('span', { class: 'legend-name' }, line.name),
          el('span', { class: 'num' }, formatRate(line.rate)),
        ),
      ),
    );
  }

  type Counts = Record<ServerState, number>;

  function updateBackends(backends: readonly BackendView[], now: number): { counts: Counts; rate: number } {
    const container = $('backends');
    const seen = new Set<string>();
    const counts = countStates([]);
    let rate = 0;
    backends.forEach((b, i) => {
      seen.add(b.name);
      const view = backendViews.get(b.name) || backendView(b.name);
      if (container.children[i] !== view.section) container.insertBefore(view.section, container.children[i] || null);
      const check = b.check
        ? `check ${b.check.path} every ${formatSpan(b.check.intervalMs).replace(' ', '\u00a0')}, rise ${b.check.rise}, fall ${b.check.fall}`
        : 'no active check';
      setText(view.meta, `${b.balance} · ${check}${b.queued > 0 ? ` · ${b.queued} queued` : ''}`);

      const seenServers = new Set<string>();
      const lines = b.servers.map((s, index) => {
        seenServers.add(s.name);
        return updateServer(view, b, s, index, now);
      });
      for (const [name, entry] of view.servers) {
        if (seenServers.has(name)) continue;
        entry.row.remove();
        view.servers.delete(name);
      }
      drawChart(view, lines, now);

      const backendCounts = countStates(b.servers);
      const backendRate = lines.reduce((sum, l) => sum + (l.rate || 0), 0);
      for (const state of STATES) counts[state] += backendCounts[state];
      rate += backendRate;
      renderSummary(view.summary, backendCounts, backendRate);
    });
    for (const [name, view] of backendViews) {
      if (seen.has(name)) continue;
      view.section.remove();
      backendViews.delete(name);
    }
    return { counts, rate };
  }

  function countStates(servers: readonly ServerView[]): Counts {
    const counts: Counts = { UP: 0, DRAIN: 0, MAINT: 0, DOWN: 0 };
    for (const s of servers) counts[s.state] += 1;
    return counts;
  }

  /** "3 UP · 1 DRAIN · 1 DOWN · 34 req/s", each count with its state's colour. */
  function renderSummary(node: HTMLElement, counts: Counts, rate: number): void {
    const shown = STATES.filter((state) => state === 'UP' || counts[state] > 0);
    const text = `${shown.map((state) => `${counts[state]} ${state}`).join(' ')} ${formatRate(rate)}`;
    if (node.dataset.text === text) return;
    node.dataset.text = text;
    node.replaceChildren(
      ...shown.map((state) => el('span', { class: `count ${state}` }, `${counts[state]} ${state}`)),
      el('span', { class: 'rate' }, `${formatRate(rate)} req/s`),
    );
  }

  // ---- refresh loop -----------------------------------------------------------------

  // ---- certificates -------------------------------------------------------------------

  const DAY_MS = 86_400_000;

  /** `2026-03-01 (41 days)`, flagged when less than 14 days are left. */
  function expiryCell(notAfter: string | null, now: number): HTMLTableCellElement {
    const cell = el('td', { 'data-label': 'Expires' });
    if (notAfter === null) {
      cell.textContent = 'not issued yet';
      return cell;
    }
    const days = Math.floor((Date.parse(notAfter) - now) / DAY_MS);
    cell.textContent = `${notAfter.slice(0, 10)} (${days < 0 ? 'expired' : `${days} days`})`;
    cell.classList.toggle('bad', days < 14);
    return cell;
  }

  function renewalText(c: CertificateView): string {
    if (!c.acme) return 'by hand (file)';
    if (c.acme.ordering) return `ordering (${c.acme.challenge})…`;
    const next = c.nextRenewal ? new Date(c.nextRenewal).toLocaleString() : '–';
    return c.acme.failures > 0
      ? `retry ${next} after ${c.acme.failures} failure(s): ${c.acme.lastError ?? ''}`
      : `${next} (${c.acme.challenge})`;
  }

  function updateCertificates(certs: readonly CertificateView[], now: number): void {
    $('certificates').hidden = certs.length === 0;
    // The day count changes once a day: part of the signature so the cell follows.
    rebuild($('certificate-rows'), JSON.stringify([certs, Math.floor(now / DAY_MS)]), () =>
      certs.map((c) => {
        const renewal = el('td', { class: 'wide', 'data-label': 'Renewal' }, renewalText(c));
        renewal.classList.toggle('bad', (c.acme?.failures ?? 0) > 0);
        return el(
          'tr',
          {},
          el('td', { class: 'name', 'data-label': 'Frontend' }, c.frontend),
          el('td', { class: 'wide', 'data-label': 'Names' }, c.names.join(', ')),
          el('td', { 'data-label': 'Source' }, el('span', { class: 'tag' }, c.source === 'acme' ? 'ACME' : 'file')),
          el('td', { 'data-label': 'Issuer' }, c.issuer ?? '–'),
          expiryCell(c.notAfter, now),
          renewal,
        );
      }),
    );
  }

  let timer: number | undefined;
  let failingSince: Date | null = null;

  function render(state: StateView): void {
    const now = Date.parse(state.now);
    updateFrontends(state.frontends || [], now);
    const totals = updateBackends(state.backends, now);
    renderSummary($('summary'), totals.counts, totals.rate);
    const down = totals.counts.DOWN;
    document.title = `${down > 0 ? `(${down} DOWN) ` : ''}Doorman stats`;
    setText($('updated'), `updated ${new Date(now).toLocaleTimeString()}`);
    $('content').setAttribute('aria-busy', 'false');
  }

  async function refresh(): Promise<void> {
    clearTimeout(timer);
    timer = undefined;
    try {
      // Doorman's own admin API: its shape is the one declared above.
      const state = (await api('/api/state')) as StateView;
      render(state);
      updateCertificates(((await api('/api/certs')) as { certs: readonly CertificateView[] }).certs, Date.parse(state.now));
      failingSince = null;
      showAlert('');
      $('content').classList.remove('stale');
    } catch (err) {
      if (!(err instanceof TokenNeeded)) {
        failingSince = failingSince || new Date();
        showAlert(`Cannot read /api/state since ${failingSince.toLocaleTimeString()}: ${errorText(err)}. Retrying…`);
        $('content').classList.add('stale');
      }
    }
    if (!waitingForToken) timer = setTimeout(refresh, REFRESH_MS);
  }

  function refreshNow(): void {
    void refresh();
  }

  function showAlert(text: string): void {
    const alert = $('alert');
    setText(alert, text);
    alert.hidden = text === '';
  }

  async function setAdminState(backend: string, server: string, target: AdminState, group: HTMLElement): Promise<void> {
    if (group.getAttribute('aria-busy') === 'true') return;
    // aria-busy instead of disabled: a disabled button would drop the keyboard focus.
    group.setAttribute('aria-busy', 'true');
    try {
      await api(`/api/backends/${encodeURIComponent(backend)}/servers/${encodeURIComponent(server)}/state`, {
        method: 'PUT',
        body: JSON.stringify({ state: target }),
      });
      announce(`${backend}/${server} set to ${target}`);
    } catch (err) {
      if (!(err instanceof TokenNeeded)) showAlert(`Could not set ${backend}/${server} to ${target}: ${errorText(err)}`);
    } finally {
      group.setAttribute('aria-busy', 'false');
      if (!waitingForToken) refreshNow();
    }
  }

  setText($('where'), location.host);
  setText($('refresh-note'), `every ${formatSpan(REFRESH_MS).replace(' ', '\u00a0')}`);
  refreshNow();
})();
