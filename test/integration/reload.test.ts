// Hot reload as an operator uses it: `kill -HUP` and `POST /api/reload` on a running
// `node dist/lb.js`, under traffic, with good and broken configs.
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { startCli, type RunningCli } from '../helpers/cli.js';
import { rawExchange, request } from '../helpers/client.js';
import { startLoad } from '../helpers/load.js';
import { tempDir, writePair } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';
import { freePort } from '../helpers/ports.js';

const pki = testPki();
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Setup {
  readonly dir: string;
  readonly cli: RunningCli;
  readonly backends: TestBackend[];
  readonly https: number;
  readonly admin: string;
  /** Rewrites lb.yaml from `config(servers)`. */
  write(servers: readonly TestBackend[], extra?: Record<string, unknown>): void;
  /** Sends SIGHUP and waits for its outcome line (the n-th 'reloaded' or 'reload refused'). */
  hup(): Promise<Record<string, unknown>>;
}

async function backend(name: string): Promise<TestBackend> {
  const cert = pki.selfSigned(name);
  const b = await startBackend({ name, tls: cert });
  (b as TestBackend & { cert: string }).cert = cert.cert;
  cleanups.push(() => b.close());
  return b;
}

/** Starts `node dist/lb.js` in front of the first `active` of `backends`. */
async function start(backends: TestBackend[], active: number, extra: Record<string, unknown> = {}): Promise<Setup> {
  const dir = tempDir('doorman-reload-');
  const front = writePair(dir, 'front', pki.front);
  const write = (servers: readonly TestBackend[], more: Record<string, unknown> = extra) => {
    const config = {
      log: { level: 'info', access: false },
      admin: { bind: '127.0.0.1:0' },
      timeouts: { shutdown: '5s' },
      frontends: [{ name: 'https', bind: '127.0.0.1:0', tls: { certs: [front] }, backend: 'web' }],
      backends: [
        {
          name: 'web',
          balance: 'roundrobin',
          servers: servers.map((b) => {
            writeFileSync(join(dir, `${b.name}.crt`), (b as TestBackend & { cert: string }).cert);
            return { name: b.name, address: b.address, tls: { ca: `${b.name}.crt`, servername: b.name } };
          }),
        },
      ],
      ...more,
    };
    writeFileSync(join(dir, 'lb.yaml'), stringify(config));
  };
  write(backends.slice(0, active));
  const cli = startCli(['-c', 'lb.yaml'], dir);
  cleanups.push(() => cli.kill());
  const listening = await cli.waitForLine((l) => l.msg === 'listening' && l.frontend === 'https', 10_000, 'listening');
  const adminLine = await cli.waitForLine((l) => l.msg === 'admin listening', 10_000, 'admin listening');
  let outcomes = 0;
  return {
    dir,
    cli,
    backends,
    https: listening.port as number,
    admin: `http://127.0.0.1:${adminLine.port as number}`,
    write,
    async hup() {
      const n = ++outcomes;
      cli.child.kill('SIGHUP');
      const isOutcome = (l: Record<string, unknown>) => l.msg === 'reloaded' || l.msg === 'reload refused: keeping the running config';
      await waitFor(() => cli.lines.filter(isOutcome).length >= n, 10_000, `reload #${n} outcome`);
      return cli.lines.filter(isOutcome)[n - 1]!;
    },
  };
}

async function reloadApi(setup: Setup): Promise<{ status: number; body: { reloaded: boolean; errors?: string[]; warnings?: string[] } }> {
  const res = await fetch(`${setup.admin}/api/reload`, { method: 'POST' });
  return { status: res.status, body: (await res.json()) as { reloaded: boolean; errors?: string[]; warnings?: string[] } };
}

async function apiState(
  setup: Setup,
): Promise<{ backends: Array<{ name: string; servers: Array<{ name: string; state: string; weight: number }> }> }> {
  return (await (await fetch(`${setup.admin}/api/state`)).json()) as never;
}

/** The certificate the https frontend presents on a new connection. */
function presentedCertificate(port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.ca.cert, servername: 'localhost' }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert) resolve(cert);
      else reject(new Error('no certificate'));
    });
    socket.on('error', reject);
  });
}

describe('hot reload', () => {
  it('loses no request over 10 SIGHUP reloads under load, on the same listening socket', async () => {
    const web = [await backend('web1'), await backend('web2')];
    const setup = await start(web, 2);
    const load = startLoad({ port: setup.https, ca: pki.ca.cert, concurrency: 4, maxMs: 30_000 });
    for (let i = 0; i < 10; i++) {
      // Alternate between two configs: new server timeouts mean new upstream pools.
      setup.write(web, i % 2 === 0 ? { timeouts: { shutdown: '6s', server: '30s' } } : {});
      const before = load.sent();
      const outcome = await setup.hup();
      expect(outcome.msg).toBe('reloaded');
      await waitFor(() => load.sent() > before + 20, 10_000, 'traffic after the reload');
    }
    const result = await load.stop();
    expect(result.failures).toEqual([]);
    expect(result.ok).toBeGreaterThan(200);
    // Both servers served throughout; one listening line per frontend, never a second bind.
    expect(result.byBackend.get('web1')).toBeGreaterThan(0);
    expect(result.byBackend.get('web2')).toBeGreaterThan(0);
    expect(setup.cli.lines.filter((l) => l.msg === 'listening').length).toBe(1);
  });

  it('gives HTTP/1.1 connections opened after a reload its client timeout', async () => {
    const web = [await backend('web1')];
    const setup = await start(web, 1, { timeouts: { shutdown: '5s', client: '7s' } });
    // A keep-alive request: the answer announces the idle timeout (read for 1.5 s, then hung up).
    const keepAliveTimeout = async () =>
      /Keep-Alive: timeout=(\d+)/i.exec(await rawExchange(setup.https, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', pki.ca.cert, 1500))?.[1];
    expect(await keepAliveTimeout()).toBe('7');
    setup.write(web, { timeouts: { shutdown: '5s', client: '9s' } });
    expect((await setup.hup()).msg).toBe('reloaded');
    expect(await keepAliveTimeout()).toBe('9');
  });

  it('sends traffic to a server a reload added, and drains one it removed', async () => {
    const web = [await backend('web1'), await backend('web2')];
    const setup = await start(web, 1);
    for (let i = 0; i < 4; i++) expect((await request({ port: setup.https, ca: pki.ca.cert })).headers['x-backend']).toBe('web1');

    setup.write(web);
    expect(await reloadApi(setup)).toEqual({ status: 200, body: { reloaded: true } });
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) seen.add(String((await request({ port: setup.https, ca: pki.ca.cert })).headers['x-backend']));
    expect(seen).toEqual(new Set(['web1', 'web2']));

    // A slow request in flight on web1 finishes after a reload removes web1.
    web[0]!.setHandler((_req, res) => setTimeout(() => res.end('slow web1\n'), 400));
    web[1]!.setHandler((_req, res) => setTimeout(() => res.end('slow web2\n'), 400));
    const seenBefore = [web[0]!.requests.length, web[1]!.requests.length];
    const inFlight = [request({ port: setup.https, ca: pki.ca.cert }), request({ port: setup.https, ca: pki.ca.cert })];
    await waitFor(
      () => web[0]!.requests.length > seenBefore[0]! && web[1]!.requests.length > seenBefore[1]!,
      5000,
      'a request in flight on each server',
    );
    setup.write([web[1]!]);
    expect((await reloadApi(setup)).status).toBe(200);
    const answers = (await Promise.all(inFlight)).map((r) => `${r.status} ${r.body}`).sort();
    expect(answers).toEqual(['200 slow web1\n', '200 slow web2\n']);
    const before = web[0]!.requests.length;
    for (let i = 0; i < 3; i++) expect((await request({ port: setup.https, ca: pki.ca.cert })).status).toBe(200);
    expect(web[0]!.requests.length).toBe(before);
    expect((await apiState(setup)).backends[0]!.servers.map((s) => s.name)).toEqual(['web2']);
  });

  it('keeps running on the old config when the new one is broken, and says why', async () => {
    const web = [await backend('web1')];
    const setup = await start(web, 1);
    writeFileSync(join(setup.dir, 'lb.yaml'), stringify({ frontends: [{ name: 'https', bind: 'nowhere' }], backends: [], bogus: 1 }));
    const api = await reloadApi(setup);
    expect(api.status).toBe(400);
    expect(api.body.reloaded).toBe(false);
    expect(api.body.errors).toEqual(
      expect.arrayContaining([expect.stringMatching(/^bogus: /), expect.stringMatching(/^frontends\.0\.bind: /)]),
    );

    const outcome = await setup.hup();
    expect(outcome.msg).toBe('reload refused: keeping the running config');
    expect(outcome.errors).toEqual(api.body.errors);
    expect((await request({ port: setup.https, ca: pki.ca.cert })).status).toBe(200);

    // A config that parses but names a missing certificate is refused too.
    setup.write(web, {
      frontends: [{ name: 'https', bind: '127.0.0.1:0', tls: { certs: [{ cert: 'gone.crt', key: 'gone.key' }] }, backend: 'web' }],
    });
    const missing = await reloadApi(setup);
    expect(missing.status).toBe(400);
    expect(missing.body.errors!.join('\n')).toMatch(/frontends\.0\.tls\.certs\.0\.cert: /);
    expect((await request({ port: setup.https, ca: pki.ca.cert })).status).toBe(200);
  });

  it('serves a rotated certificate after a reload, on the same port', async () => {
    const web = [await backend('web1')];
    const setup = await start(web, 1);
    const before = await presentedCertificate(setup.https);
    const rotated = pki.issue('localhost', ['localhost', '127.0.0.1']);
    writePair(setup.dir, 'front', rotated);
    expect((await reloadApi(setup)).status).toBe(200);
    const after = await presentedCertificate(setup.https);
    expect(after.fingerprint256).not.toBe(before.fingerprint256);
    expect(after.fingerprint256).toBe(new X509Certificate(rotated.cert).fingerprint256);
  });

  it("keeps a kept server's operator state and health across a reload", async () => {
    const web = [await backend('web1'), await backend('web2')];
    // fall 2 and a 300 ms timeout: one slow check on a loaded machine must not take the healthy web1 down.
    const check = { path: '/health', interval: '300ms', timeout: '300ms', rise: 2, fall: 2 };
    const setup = await start(web, 2);
    // web1 DRAIN by the operator; web2 failing its checks.
    await fetch(`${setup.admin}/api/backends/web/servers/web1/state`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'DRAIN' }),
    });
    web[1]!.setHandler((_req, res) => {
      res.writeHead(503);
      res.end();
    });
    const config = (servers: TestBackend[]) => ({
      log: { level: 'info', access: false },
      admin: { bind: '127.0.0.1:0' },
      frontends: [{ name: 'https', bind: '127.0.0.1:0', tls: { certs: [{ cert: 'front.crt', key: 'front.key' }] }, backend: 'web' }],
      backends: [
        {
          name: 'web',
          check,
          servers: servers.map((b) => ({ name: b.name, address: b.address, tls: { ca: `${b.name}.crt`, servername: b.name } })),
        },
      ],
    });
    writeFileSync(join(setup.dir, 'lb.yaml'), stringify(config(web)));
    expect(await reloadApi(setup)).toEqual({ status: 200, body: { reloaded: true } });
    await waitFor(async () => (await apiState(setup)).backends[0]!.servers[1]!.state === 'DOWN', 10_000, 'web2 DOWN');

    // Another reload (a new check path): web1 stays DRAIN, web2 stays DOWN — no reset to UP.
    writeFileSync(
      join(setup.dir, 'lb.yaml'),
      stringify({ ...config(web), backends: [{ ...config(web).backends[0], check: { ...check, path: '/other' } }] }),
    );
    expect((await reloadApi(setup)).status).toBe(200);
    const servers = (await apiState(setup)).backends[0]!.servers;
    expect(servers.map((s) => [s.name, s.state])).toEqual([
      ['web1', 'DRAIN'],
      ['web2', 'DOWN'],
    ]);
    const downs = setup.cli.lines.filter((l) => l.msg === 'server web/web2 is DOWN');
    expect(downs.length).toBe(1);
  });
});

describe('hot reload of listeners', () => {
  it('moves the admin listener and applies a new token, answering the reload that asked for it', async () => {
    const web = [await backend('web1')];
    const setup = await start(web, 1);
    const moved = await freePort();
    setup.write(web, { admin: { bind: `127.0.0.1:${moved}`, token: 'sesame' } });
    expect(await reloadApi(setup)).toEqual({ status: 200, body: { reloaded: true } });
    const next = `http://127.0.0.1:${moved}`;
    expect((await fetch(`${next}/api/state`)).status).toBe(401);
    expect((await fetch(`${next}/api/state`, { headers: { authorization: 'Bearer sesame' } })).status).toBe(200);
    await waitFor(
      async () =>
        (await fetch(`${setup.admin}/healthz`).then(
          () => 'open',
          () => 'closed',
        )) === 'closed',
      5000,
      'old admin closed',
    );
  });

  it('binds a frontend whose port was taken once a later reload finds it free, and closes a removed one', async () => {
    const web = [await backend('web1')];
    const setup = await start(web, 1);
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as net.AddressInfo).port;
    const front = { cert: 'front.crt', key: 'front.key' };
    const frontends = [
      { name: 'https', bind: '127.0.0.1:0', tls: { certs: [front] }, backend: 'web' },
      { name: 'plain', bind: `127.0.0.1:${taken}`, backend: 'web' },
    ];
    setup.write(web, { frontends });
    const first = await reloadApi(setup);
    // In force, with a warning: the https frontend and everything else took the new config.
    expect(first.status).toBe(200);
    expect((first.body as { warnings?: string[] }).warnings).toEqual([
      expect.stringMatching(/^frontends\.1\.bind: cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/),
    ]);

    await new Promise<void>((resolve) => blocker.close(() => resolve()));
    expect(await reloadApi(setup)).toEqual({ status: 200, body: { reloaded: true } });
    expect((await request({ port: taken })).headers['x-backend']).toBe('web1');

    // Removed again: it stops accepting; the https frontend's socket never moved.
    setup.write(web, { frontends: [frontends[0]] });
    expect((await reloadApi(setup)).status).toBe(200);
    await waitFor(
      async () =>
        (await request({ port: taken }).then(
          () => 'open',
          () => 'closed',
        )) === 'closed',
      5000,
      'plain frontend closed',
    );
    expect((await request({ port: setup.https, ca: pki.ca.cert })).status).toBe(200);
  });

  it('sends to a server’s new address after a reload moves it', async () => {
    const web = [await backend('web1'), await backend('web2')];
    const setup = await start(web, 1);
    expect((await request({ port: setup.https, ca: pki.ca.cert })).headers['x-backend']).toBe('web1');
    // Same name web1, now at web2's address with web2's certificate as its trust anchor.
    const config = {
      log: { level: 'info', access: false },
      admin: { bind: '127.0.0.1:0' },
      frontends: [{ name: 'https', bind: '127.0.0.1:0', tls: { certs: [{ cert: 'front.crt', key: 'front.key' }] }, backend: 'web' }],
      backends: [{ name: 'web', servers: [{ name: 'web1', address: web[1]!.address, tls: { ca: 'web2.crt', servername: 'web2' } }] }],
    };
    writeFileSync(join(setup.dir, 'web2.crt'), (web[1] as TestBackend & { cert: string }).cert);
    writeFileSync(join(setup.dir, 'lb.yaml'), stringify(config));
    expect(await reloadApi(setup)).toEqual({ status: 200, body: { reloaded: true } });
    for (let i = 0; i < 3; i++) expect((await request({ port: setup.https, ca: pki.ca.cert })).headers['x-backend']).toBe('web2');
  });
});
