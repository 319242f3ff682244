// The admin listener as SPEC describes it: /api/state, PUT .../state and .../weight,
// the bearer token, /healthz, /metrics and /stats, and what DRAIN and MAINT do to
// cookie holders and new clients.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { admin, apiServer, apiState } from '../helpers/admin.js';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { request, type Reply } from '../helpers/client.js';
import { startProxy, type ProxyOptions, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';

const pki = testPki();
const certs = { web1: pki.selfSigned('web1'), web2: pki.selfSigned('web2') };
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function twoServers(options: ProxyOptions = {}): Promise<{ running: RunningLb; web1: TestBackend; web2: TestBackend }> {
  const web1 = await startBackend({ name: 'web1', tls: certs.web1 });
  cleanups.push(web1.close);
  const web2 = await startBackend({ name: 'web2', tls: certs.web2 });
  cleanups.push(web2.close);
  const running = await startProxy(
    pki.front,
    [
      { name: 'web1', address: web1.address, trust: certs.web1 },
      { name: 'web2', address: web2.address, trust: certs.web2 },
    ],
    { ...options, top: { admin: { bind: '127.0.0.1:0' }, ...options.top } },
  );
  cleanups.push(() => running.close());
  return { running, web1, web2 };
}

const stateUrl = (server: string, backend = 'web') => `/api/backends/${backend}/servers/${server}/state`;

describe('GET /api/state', () => {
  it('lists backends and servers with the SPEC fields, check results and counts', async () => {
    const { running, web1 } = await twoServers({ backend: { check: { path: '/health', interval: '60s', timeout: '1s' } } });
    await running.lb.health.checker.stop();
    await running.lb.health.checker.runOnce();
    const reply = await request({ port: running.port(), ca: pki.ca.cert, path: '/hello' });
    const servedBy = String(reply.headers['x-backend']);

    const response = await admin(running, '/api/state');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    const state = response.json as Awaited<ReturnType<typeof apiState>>;
    expect(state.backends.map((b) => b.name)).toEqual(['web']);
    const servers = state.backends[0]!.servers;
    expect(servers.map((s) => s.name)).toEqual(['web1', 'web2']);
    for (const s of servers) {
      expect(s).toMatchObject({ state: 'UP', active: 0, queued: 0, weight: 1 });
      expect(s.lastCheck).toMatchObject({ status: 'ok', code: 200, reason: 'ok' });
      expect(typeof s.lastCheck!.durationMs).toBe('number');
      expect(Number.isNaN(Date.parse(s.lastChange))).toBe(false);
      expect(s.errors).toBe(0);
    }
    expect(servers[0]!.address).toBe(web1.address);
    expect(servers.find((s) => s.name === servedBy)!.requests).toBe(1);
    expect(servers.find((s) => s.name !== servedBy)!.requests).toBe(0);
  });

  it('shows lastCheck null before any check, and without a check configured', async () => {
    const { running } = await twoServers();
    const view = await apiServer(running, 'web', 'web1');
    expect(view.lastCheck).toBeNull();
  });
});

describe('PUT /api/backends/{b}/servers/{s}/state', () => {
  it('sets READY / DRAIN / MAINT and answers 200 with the server JSON', async () => {
    const { running } = await twoServers();
    const table: Array<[string, string]> = [
      ['DRAIN', 'DRAIN'],
      ['MAINT', 'MAINT'],
      ['READY', 'UP'],
      ['drain', 'DRAIN'],
    ];
    for (const [asked, shown] of table) {
      const reply = await admin(running, stateUrl('web1'), { method: 'PUT', body: { state: asked } });
      expect(reply.status).toBe(200);
      expect(reply.json).toMatchObject({ name: 'web1', state: shown, adminState: asked.toUpperCase() });
      expect((await apiServer(running, 'web', 'web1')).state).toBe(shown);
      expect(running.lb.backends.get('web')!.server('web1')!.adminState).toBe(asked.toUpperCase());
    }
    // The other server was not touched.
    expect((await apiServer(running, 'web', 'web2')).state).toBe('UP');
    // Each operator change is logged.
    expect(running.logs.filter((l) => l.msg === 'server web/web1 set to DRAIN weight 1')).toHaveLength(2);
  });

  it('answers 404 for an unknown server or backend', async () => {
    const { running } = await twoServers();
    for (const path of [stateUrl('nope'), stateUrl('web1', 'nope')]) {
      const reply = await admin(running, path, { method: 'PUT', body: { state: 'DRAIN' } });
      expect(reply.status).toBe(404);
      expect((reply.json as { error: string }).error).toContain('nope');
    }
  });

  it('answers 400 to a bad body, bad JSON or an unknown state, and changes nothing', async () => {
    const { running } = await twoServers();
    const bodies: unknown[] = [
      '{"state": ',
      'not json',
      '',
      {},
      { state: 5 },
      { state: 'OFF' },
      { state: null },
      [],
      'null',
      { weight: 3 },
    ];
    for (const body of bodies) {
      const reply = await admin(running, stateUrl('web1'), { method: 'PUT', body });
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(typeof (reply.json as { error: unknown }).error).toBe('string');
    }
    expect((await apiServer(running, 'web', 'web1')).state).toBe('UP');
  });

  it('refuses other methods on the route, and a malformed path', async () => {
    const { running } = await twoServers();
    expect((await admin(running, stateUrl('web1'), { method: 'POST', body: { state: 'DRAIN' } })).status).toBe(405);
    expect((await admin(running, stateUrl('web%E0%A4%A'), { method: 'PUT', body: { state: 'DRAIN' } })).status).toBe(400);
    expect((await admin(running, '/healthz')).status).toBe(200);
  });
});

describe('PUT .../weight', () => {
  it('sets the weight; 400 outside 0..256', async () => {
    const { running } = await twoServers();
    const url = '/api/backends/web/servers/web2/weight';
    const reply = await admin(running, url, { method: 'PUT', body: { weight: 7 } });
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ name: 'web2', weight: 7 });
    expect((await apiServer(running, 'web', 'web2')).weight).toBe(7);
    for (const weight of [-1, 257, 1.5, '3']) {
      expect((await admin(running, url, { method: 'PUT', body: { weight } })).status).toBe(400);
    }
    expect((await apiServer(running, 'web', 'web2')).weight).toBe(7);
  });
});

describe('admin.token', () => {
  it('401 without Authorization, 403 with a wrong token, 200 with the right one, on every /api route', async () => {
    const { running } = await twoServers({ top: { admin: { bind: '127.0.0.1:0', token: 's3cret-token' } } });
    const routes: Array<[string, { method?: string; body?: unknown }]> = [
      ['/api/state', {}],
      [stateUrl('web1'), { method: 'PUT', body: { state: 'DRAIN' } }],
    ];
    for (const [path, options] of routes) {
      const none = await admin(running, path, options);
      expect(none.status).toBe(401);
      expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
      expect((await admin(running, path, { ...options, headers: { authorization: 'Basic czNjcmV0' } })).status).toBe(401);
      expect((await admin(running, path, { ...options, token: 'wrong' })).status).toBe(403);
      expect((await admin(running, path, { ...options, token: 's3cret-token-but-longer' })).status).toBe(403);
    }
    // A refused PUT changed nothing.
    expect(running.lb.backends.get('web')!.server('web1')!.adminState).toBe('READY');
    for (const [path, options] of routes) {
      expect((await admin(running, path, { ...options, token: 's3cret-token' })).status).toBe(200);
    }
    expect(running.lb.backends.get('web')!.server('web1')!.adminState).toBe('DRAIN');
    // The token never reaches the log.
    expect(JSON.stringify(running.logs)).not.toContain('s3cret-token');
  });

  it('leaves /healthz and /metrics open', async () => {
    const { running } = await twoServers({ top: { admin: { bind: '127.0.0.1:0', token: 's3cret-token' } } });
    expect((await admin(running, '/healthz')).status).toBe(200);
    expect((await admin(running, '/metrics')).status).toBe(200);
  });
});

describe('the other admin endpoints', () => {
  it('/healthz 200, /metrics in Prometheus text format, /stats HTML, unknown path 404', async () => {
    const { running } = await twoServers();
    const health = await admin(running, '/healthz');
    expect(health.status).toBe(200);

    const metrics = await admin(running, '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(metrics.text).toMatch(/^# HELP lb_server_up /m);
    expect(metrics.text).toMatch(/^# TYPE lb_server_up gauge$/m);
    expect(metrics.text).toContain('lb_server_up{backend="web",server="web1"} 1');

    const stats = await admin(running, '/stats');
    expect(stats.status).toBe(200);
    expect(stats.headers.get('content-type')).toMatch(/^text\/html/);

    expect((await admin(running, '/nope')).status).toBe(404);
    expect((await admin(running, '/api/nope')).status).toBe(404);
  });
});

// ---- DRAIN and MAINT against a persistence cookie ------------------------------------

function cookieOf(reply: Reply): string | undefined {
  const header = reply.headers['set-cookie']?.find((c) => c.startsWith('WEBSERVERID='));
  return header?.split(';')[0];
}

/** Asks as new clients until one lands on `name`; returns its cookie. */
async function cookieFor(running: RunningLb, name: string): Promise<string> {
  for (let i = 0; i < 10; i += 1) {
    const reply = await request({ port: running.port(), ca: pki.ca.cert });
    if (reply.headers['x-backend'] === name) {
      const cookie = cookieOf(reply);
      if (!cookie) throw new Error('no persistence cookie set');
      return cookie;
    }
  }
  throw new Error(`no new client was sent to ${name}`);
}

describe('operator states and the persistence cookie', () => {
  const withCookie = { backend: { balance: 'roundrobin', cookie: { name: 'WEBSERVERID' } } };

  it('DRAIN: a cookie holder still reaches the server, a new client never does', async () => {
    const { running, web1 } = await twoServers(withCookie);
    const cookie = await cookieFor(running, 'web1');
    expect((await admin(running, stateUrl('web1'), { method: 'PUT', body: { state: 'DRAIN' } })).status).toBe(200);

    const servedBefore = web1.requests.length;
    for (let i = 0; i < 4; i += 1) {
      const holder = await request({ port: running.port(), ca: pki.ca.cert, headers: { cookie } });
      expect(holder.status).toBe(200);
      expect(holder.headers['x-backend']).toBe('web1');
      expect(cookieOf(holder)).toBeUndefined();
    }
    for (let i = 0; i < 6; i += 1) {
      const fresh = await request({ port: running.port(), ca: pki.ca.cert });
      expect(fresh.headers['x-backend']).toBe('web2');
      expect(cookieOf(fresh)).toBeDefined();
    }
    expect(web1.requests.length - servedBefore).toBe(4);
  });

  it('MAINT: a cookie holder is redispatched and gets a fresh Set-Cookie; new clients never reach it', async () => {
    const { running, web1 } = await twoServers(withCookie);
    const cookie = await cookieFor(running, 'web1');
    expect((await admin(running, stateUrl('web1'), { method: 'PUT', body: { state: 'MAINT' } })).status).toBe(200);

    const servedBefore = web1.requests.length;
    const holder = await request({ port: running.port(), ca: pki.ca.cert, headers: { cookie } });
    expect(holder.status).toBe(200);
    expect(holder.headers['x-backend']).toBe('web2');
    const fresh = cookieOf(holder);
    expect(fresh).toBeDefined();
    expect(fresh).not.toBe(cookie);
    // The new cookie sticks to web2.
    const again = await request({ port: running.port(), ca: pki.ca.cert, headers: { cookie: fresh! } });
    expect(again.headers['x-backend']).toBe('web2');
    expect(cookieOf(again)).toBeUndefined();
    for (let i = 0; i < 4; i += 1) expect((await request({ port: running.port(), ca: pki.ca.cert })).headers['x-backend']).toBe('web2');
    expect(web1.requests.length).toBe(servedBefore);

    // READY again: the server takes new clients.
    await admin(running, stateUrl('web1'), { method: 'PUT', body: { state: 'READY' } });
    const seen = new Set<unknown>();
    for (let i = 0; i < 4; i += 1) seen.add((await request({ port: running.port(), ca: pki.ca.cert })).headers['x-backend']);
    expect(seen.has('web1')).toBe(true);
  });
});

describe('admin API against web pages (DNS rebinding, cross-site requests)', () => {
  /** node:http, not fetch: fetch will not send a Host of our choosing. */
  const send = (running: RunningLb, method: string, path: string, headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; text: () => Promise<string> }>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: running.lb.adminPort(), method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: () => Promise.resolve(Buffer.concat(chunks).toString()) }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const put = (running: RunningLb, headers: Record<string, string>, body = '{"state":"MAINT"}') =>
    send(running, 'PUT', stateUrl('web1'), headers, body);
  const web1State = (running: RunningLb) => running.lb.backends.get('web')!.server('web1')!.adminState;

  it('refuses a Host that is not loopback, the bind address or allowed, changing nothing', async () => {
    const { running } = await twoServers({ top: { admin: { bind: '127.0.0.1:0', allowedHosts: ['lb.internal'] } } });
    // What a rebinding page sends: its own name, resolved to 127.0.0.1.
    const rebound = await put(running, { host: 'evil.example', 'content-type': 'application/json' });
    expect(rebound.status).toBe(403);
    expect(await rebound.text()).toBe('host not allowed\n');
    expect((await send(running, 'GET', '/api/state', { host: 'evil.example:9090' })).status).toBe(403);
    expect(web1State(running)).toBe('READY');
    // An address cannot be a rebinding: an operator may use the machine's IP.
    for (const host of [
      'localhost',
      '127.0.0.1',
      'lb.internal:9090',
      `127.0.0.1:${running.lb.adminPort()}`,
      '192.0.2.7:9090',
      '[2001:db8::1]:9090',
    ]) {
      expect((await send(running, 'GET', '/api/state', { host })).status, host).toBe(200);
    }
  });

  it('refuses a state change from a foreign Origin or with a body that is not JSON, changing nothing', async () => {
    const { running } = await twoServers();
    const foreign = await put(running, { origin: 'https://evil.example', 'content-type': 'application/json' });
    expect([foreign.status, await foreign.text()]).toEqual([403, 'cross-site request\n']);
    const form = await put(running, { 'content-type': 'text/plain' });
    expect([form.status, await form.text()]).toEqual([403, 'body must be application/json\n']);
    const reload = await fetch(`http://127.0.0.1:${running.lb.adminPort()}/api/reload`, {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(reload.status).toBe(403);
    expect(web1State(running)).toBe('READY');
    // The stats page's own requests (same origin, JSON) still work.
    const own = await put(running, { origin: `http://127.0.0.1:${running.lb.adminPort()}`, 'content-type': 'application/json' });
    expect(own.status).toBe(200);
    expect(web1State(running)).toBe('MAINT');
  });

  it('refuses clients outside admin.allow', async () => {
    const { running } = await twoServers({ top: { admin: { bind: '127.0.0.1:0', allow: ['10.0.0.0/8'] } } });
    const reply = await fetch(`http://127.0.0.1:${running.lb.adminPort()}/api/state`);
    expect([reply.status, await reply.text()]).toEqual([403, 'address not allowed\n']);
  });
});
