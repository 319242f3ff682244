// `workers: 2`: a primary with two worker processes, driven as an operator would:
// `node dist/lb.js`, traffic, /metrics and /api/state, a worker killed under load,
// health and operator state reaching the workers, reload and SIGTERM.
import http2 from 'node:http2';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { metric, parseMetrics } from '../helpers/admin.js';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { startCli, type RunningCli } from '../helpers/cli.js';
import { request } from '../helpers/client.js';
import { startLoad } from '../helpers/load.js';
import { tempDir, writePair } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Cluster {
  readonly cli: RunningCli;
  readonly dir: string;
  readonly https: number;
  readonly admin: string;
  readonly web: TestBackend[];
  /** Pids of the processes that wrote access lines so far. */
  servingPids(): Set<number>;
}

async function startCluster(extra: Record<string, unknown> = {}, backendExtra: Record<string, unknown> = {}): Promise<Cluster> {
  const dir = tempDir('doorman-workers-');
  const front = writePair(dir, 'front', pki.front);
  const web: TestBackend[] = [];
  for (const name of ['web1', 'web2']) {
    const cert = pki.selfSigned(name);
    writePair(dir, name, cert);
    const b = await startBackend({ name, tls: cert });
    cleanups.push(() => b.close());
    web.push(b);
  }
  const config = {
    workers: 2,
    log: { level: 'info', access: true },
    admin: { bind: '127.0.0.1:0' },
    timeouts: { shutdown: '5s' },
    frontends: [{ name: 'https', bind: '127.0.0.1:0', tls: { certs: [front] }, backend: 'web' }],
    backends: [
      {
        name: 'web',
        balance: 'roundrobin',
        // Lenient enough that a busy CI machine does not flap web1.
        check: { path: '/health', interval: '500ms', timeout: '500ms', rise: 1, fall: 2 },
        servers: web.map((b) => ({ name: b.name, address: b.address, tls: { ca: `${b.name}.crt`, servername: b.name }, maxconn: 10 })),
        ...backendExtra,
      },
    ],
    ...extra,
  };
  writeFileSync(join(dir, 'lb.yaml'), stringify(config));
  const cli = startCli(['-c', 'lb.yaml'], dir);
  cleanups.push(() => cli.kill());
  const listening = await cli.waitForLine((l) => l.msg === 'listening' && l.frontend === 'https', 15_000, 'listening');
  const adminLine = await cli.waitForLine((l) => l.msg === 'admin listening', 15_000, 'admin listening');
  return {
    cli,
    dir,
    web,
    https: listening.port as number,
    admin: `http://127.0.0.1:${adminLine.port as number}`,
    servingPids: () => new Set(cli.lines.filter((l) => l.msg === 'access').map((l) => l.pid as number)),
  };
}

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  return (await (await fetch(url, init)).json()) as T;
}

type State = { backends: Array<{ name: string; servers: Array<{ name: string; state: string; requests: number; maxconn: number }> }> };

describe('workers: 2', () => {
  it('serves from both workers, logs one listening line, and sums their metrics and counts', async () => {
    const c = await startCluster();
    const primaryPid = c.cli.child.pid!;
    expect(c.cli.lines.filter((l) => l.msg === 'listening').length).toBe(1);
    const total = 60;
    for (let i = 0; i < total; i++) expect((await request({ port: c.https, ca: pki.ca.cert })).status).toBe(200);
    await waitFor(() => c.cli.lines.filter((l) => l.msg === 'access').length >= total, 5000, 'access lines');
    const pids = c.servingPids();
    expect(pids.size).toBe(2);
    expect(pids.has(primaryPid)).toBe(false);

    const samples = parseMetrics(await (await fetch(`${c.admin}/metrics`)).text());
    const served = ['web1', 'web2'].map(
      (server) => metric(samples, 'lb_requests_total', { frontend: 'https', backend: 'web', server, code: '200' }) ?? 0,
    );
    expect(served[0]! + served[1]!).toBe(total);
    // Every process knows web1 is up; the sum would say 3, the aggregate says 1.
    expect(metric(samples, 'lb_server_up', { backend: 'web', server: 'web1' })).toBe(1);

    const state = await getJson<State>(`${c.admin}/api/state`);
    const servers = state.backends[0]!.servers;
    expect(servers[0]!.requests + servers[1]!.requests).toBe(total);
    // /api/state shows the configured limit; each worker holds half of it (documented).
    expect(servers[0]!.maxconn).toBe(10);
  });

  it('restarts a killed worker; only the requests it held fail, and both serve again', async () => {
    const c = await startCluster();
    for (let i = 0; i < 10; i++) await request({ port: c.https, ca: pki.ca.cert });
    await waitFor(() => c.servingPids().size === 2, 5000, 'both workers serving');
    const [victim] = [...c.servingPids()];
    const load = startLoad({ port: c.https, ca: pki.ca.cert, concurrency: 4, maxMs: 20_000 });
    await waitFor(() => load.sent() > 50, 5000, 'load running');
    process.kill(victim!, 'SIGKILL');
    const died = await c.cli.waitForLine((l) => l.msg === 'worker died: restarting', 5000, 'worker died');
    expect(died.workerPid).toBe(victim);
    // The replacement serves: an access line from a pid never seen before.
    const before = c.servingPids();
    await waitFor(() => [...c.servingPids()].some((pid) => !before.has(pid)), 10_000, 'a new worker serving');
    const result = await load.stop();
    // Only what the victim held: a request in flight on each of the 4 clients' connections,
    // plus a connection the primary was handing it as it died (Node's round-robin handoff
    // keeps that one until the client gives up: here, 5 s). Everything else is served.
    expect(result.failures.length, result.failures.join('\n')).toBeLessThanOrEqual(6);
    expect(result.failures.length, result.failures.join('\n')).toBeLessThan(result.ok / 20);
    expect(result.ok).toBeGreaterThan(50);
  });

  it('serves HTTP/2 clients from every worker, one access line per stream', async () => {
    const c = await startCluster();
    // Separate connections: cluster's round-robin hands them to both workers.
    for (let i = 0; i < 6; i++) {
      const session = http2.connect(`https://localhost:${c.https}`, { ca: pki.ca.cert });
      session.on('error', () => {});
      const status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':path': `/h2/${i}` });
        stream.on('response', (h) => resolve(Number(h[':status'])));
        stream.on('error', reject);
        stream.resume();
      });
      session.close();
      expect(status).toBe(200);
    }
    await waitFor(
      () => c.cli.lines.filter((l) => l.msg === 'access' && String(l.path).startsWith('/h2/')).length === 6,
      10_000,
      'six access lines',
    );
    const lines = c.cli.lines.filter((l) => l.msg === 'access' && String(l.path).startsWith('/h2/'));
    expect(lines.every((l) => l.httpVersion === '2.0')).toBe(true);
    expect(new Set(lines.map((l) => l.pid)).size).toBe(2);
  });

  it('gives every worker the health and operator state the primary decides', async () => {
    const c = await startCluster();
    // web2 fails its check: no worker sends it anything.
    c.web[1]!.setHandler((req, res) => {
      res.writeHead(req.url === '/health' ? 503 : 200, { 'x-backend': 'web2' });
      res.end();
    });
    await c.cli.waitForLine((l) => l.msg === 'server web/web2 is DOWN', 5000, 'web2 DOWN');
    const seenBefore = c.web[1]!.requests.filter((r) => r.url !== '/health').length;
    for (let i = 0; i < 20; i++) expect((await request({ port: c.https, ca: pki.ca.cert })).headers['x-backend']).toBe('web1');
    expect(c.web[1]!.requests.filter((r) => r.url !== '/health').length).toBe(seenBefore);

    // web1 to MAINT: with web2 down, every worker answers 503 at once.
    await fetch(`${c.admin}/api/backends/web/servers/web1/state`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'MAINT' }),
    });
    for (let i = 0; i < 6; i++) expect((await request({ port: c.https, ca: pki.ca.cert })).status).toBe(503);
    await fetch(`${c.admin}/api/backends/web/servers/web1/state`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'READY' }),
    });
    for (let i = 0; i < 6; i++) expect((await request({ port: c.https, ca: pki.ca.cert })).status).toBe(200);
  });

  it('ramps a server back from MAINT in every worker (slowStart), as the primary does', async () => {
    const c = await startCluster({}, { slowStart: '60s' });
    const put = (state: string) =>
      fetch(`${c.admin}/api/backends/web/servers/web2/state`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ state }),
      });
    expect((await put('MAINT')).status).toBe(200);
    expect((await put('READY')).status).toBe(200);
    // A connection per request: the primary hands them to both workers in turn.
    const total = 100;
    const served = { web1: 0, web2: 0 };
    for (let i = 0; i < total; i++) {
      const reply = await request({ port: c.https, ca: pki.ca.cert });
      expect(reply.status).toBe(200);
      served[reply.headers['x-backend'] as 'web1' | 'web2']++;
    }
    // Every worker ramps (50 % otherwise) and takes it back at once (0 had it missed READY).
    expect(served.web2).toBeGreaterThanOrEqual(1);
    expect(served.web2).toBeLessThan(total / 3);
    expect(c.servingPids().size).toBe(2);
    const state = await getJson<{ backends: Array<{ servers: Array<{ name: string; weight: number; effectiveWeight: number }> }> }>(
      `${c.admin}/api/state`,
    );
    const web2 = state.backends[0]!.servers.find((s) => s.name === 'web2')!;
    expect(web2.effectiveWeight).toBeLessThan(web2.weight);
  });

  it('reloads every worker, and drains all of them on SIGTERM before exiting 0', async () => {
    const c = await startCluster();
    const config = (await import('yaml')).parse((await import('node:fs')).readFileSync(join(c.dir, 'lb.yaml'), 'utf8')) as Record<
      string,
      unknown
    > & {
      backends: Array<{ servers: unknown[] }>;
    };
    config.backends[0]!.servers = config.backends[0]!.servers.slice(1);
    writeFileSync(join(c.dir, 'lb.yaml'), stringify(config));
    c.cli.child.kill('SIGHUP');
    await c.cli.waitForLine((l) => l.msg === 'reloaded', 10_000, 'reloaded');
    for (let i = 0; i < 10; i++) expect((await request({ port: c.https, ca: pki.ca.cert })).headers['x-backend']).toBe('web2');

    c.web[1]!.setHandler((_req, res) => setTimeout(() => res.end('slow\n'), 500));
    const slow = [request({ port: c.https, ca: pki.ca.cert }), request({ port: c.https, ca: pki.ca.cert })];
    await waitFor(() => c.web[1]!.requests.filter((r) => r.url !== '/health').length >= 12, 5000, 'slow requests at web2');
    c.cli.child.kill('SIGTERM');
    await waitFor(
      async () =>
        (await fetch(`${c.admin}/healthz`).then(
          (r) => r.status,
          () => 0,
        )) === 503,
      2000,
      '/healthz 503',
    );
    expect((await Promise.all(slow)).map((r) => r.body)).toEqual(['slow\n', 'slow\n']);
    const exit = await c.cli.exited;
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
  });
});

describe('workers: 2, failures at start', () => {
  it('exits 1 when the workers cannot bind, leaving no worker behind', async () => {
    const dir = tempDir('doorman-workers-');
    const blocker = (await import('node:net')).createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
    const taken = (blocker.address() as import('node:net').AddressInfo).port;
    writeFileSync(
      join(dir, 'lb.yaml'),
      stringify({
        workers: 2,
        admin: null,
        frontends: [{ name: 'http', bind: `127.0.0.1:${taken}`, backend: 'web' }],
        backends: [{ name: 'web', servers: [{ name: 'web1', address: '127.0.0.1:9' }] }],
      }),
    );
    const cli = startCli(['-c', 'lb.yaml'], dir);
    cleanups.push(() => cli.kill());
    const exit = await cli.exited;
    expect(exit.code).toBe(1);
    expect(cli.lines.some((l) => l.msg === 'cannot start')).toBe(true);
    // Every worker that logged is gone.
    const pids = new Set(cli.lines.map((l) => l.pid as number).filter((pid) => pid !== cli.child.pid));
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    };
    // An orphan is reaped by init a moment after its parent exits: poll, with a deadline.
    await waitFor(() => [...pids].every((pid) => !alive(pid)), 3000, 'every worker gone');
  });
});
