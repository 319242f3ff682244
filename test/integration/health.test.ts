// The health checker against real HTTPS servers on port 0, with a CA and certificates made
// per run. Verification is never turned off: pins and CAs are what these tests check.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CheckConfig, ServerConfig, ServerTlsConfig } from '../../src/config/types.js';
import { createAuthority, issueCertificate, type Authority } from '../../src/dev/pki.js';
import { createHealthChecker, type HealthReporter, type HealthTarget, type Transition } from '../../src/health/checker.js';
import { probeServer, type Probe, type ProbeResult } from '../../src/health/probe.js';
import type { HealthState } from '../../src/health/state.js';
import { spkiPin } from '../../src/tls/pin.js';
import { createDialer, upstreamTlsOptions } from '../../src/tls/upstream.js';
import { waitFor } from '../helpers/wait.js';

// ---- certificates, made once per run -------------------------------------------------

let dir: string;
let caPath: string;
let otherCaPath: string;
let good: Authority;
/** Same CA, same names, another key: passes chain and name checks, fails the pin. */
let otherKey: Authority;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'doorman-health-'));
  const ca = createAuthority('Doorman test CA');
  const otherCa = createAuthority('Some other CA');
  good = issueCertificate({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'], issuer: ca });
  otherKey = issueCertificate({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'], issuer: ca });
  caPath = join(dir, 'ca.crt');
  otherCaPath = join(dir, 'other-ca.crt');
  writeFileSync(caPath, ca.cert);
  writeFileSync(otherCaPath, otherCa.cert);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

// ---- upstream servers ----------------------------------------------------------------

interface Upstream {
  readonly port: number;
  /** Raw TCP connections currently open on the server side. */
  readonly sockets: Set<Socket>;
  readonly requests: Array<{ path: string | undefined; headers: IncomingHttpHeaders }>;
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

function track(server: HttpsServer | NetServer | TlsServer, sockets: Set<Socket>): void {
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
}

async function listen(server: HttpsServer | NetServer | TlsServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function closer(server: HttpsServer | NetServer | TlsServer, sockets: Set<Socket>): () => Promise<void> {
  let closed: Promise<void> | null = null;
  return () => {
    closed ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const socket of sockets) socket.destroy();
    });
    return closed;
  };
}

/** An HTTPS server; `handler` may leave a request unanswered. */
async function startHttps(handler: (req: IncomingMessage, res: ServerResponse) => void, identity: Authority = good): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const requests: Upstream['requests'] = [];
  const server = createHttpsServer({ cert: identity.cert, key: identity.key }, (req, res) => {
    requests.push({ path: req.url, headers: req.headers });
    handler(req, res);
  });
  track(server, sockets);
  const port = await listen(server);
  const close = closer(server, sockets);
  cleanups.push(close);
  return { port, sockets, requests, close };
}

/** A TCP server that accepts connections and never says a word (a TLS handshake that hangs). */
async function startSilentTcp(): Promise<Upstream> {
  const sockets = new Set<Socket>();
  // Reads and drops the ClientHello, so the client's close is seen (a paused socket never sees 'end').
  const server = createNetServer((socket) => socket.resume());
  track(server, sockets);
  const port = await listen(server);
  const close = closer(server, sockets);
  cleanups.push(close);
  return { port, sockets, requests: [], close };
}

/** A TLS server that answers each connection's first bytes with `answer` as they are (a raw HTTP/1.1 server). */
async function startRawTls(answer: string, alpn: string[] = ['http/1.1']): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const server = createTlsServer({ cert: good.cert, key: good.key, ALPNProtocols: alpn }, (socket) => {
    socket.once('data', () => socket.end(answer, 'latin1'));
    socket.on('error', () => {});
  });
  track(server, sockets);
  const port = await listen(server);
  const close = closer(server, sockets);
  cleanups.push(close);
  return { port, sockets, requests: [], close };
}

function respondWith(status: () => number) {
  return (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(status(), { 'content-type': 'text/plain' });
    res.end('health\n');
  };
}

// ---- config and checker helpers ------------------------------------------------------

function serverConfig(port: number, tls: Partial<ServerTlsConfig> = {}): ServerConfig {
  return {
    name: 'web1',
    address: { host: '127.0.0.1', port },
    tls: { ca: caPath, pins: [], servername: null, ...tls },
    maxconn: 0,
    weight: 1,
    cookie: 'web1',
    proxyProtocol: null,
  };
}

function checkConfig(overrides: Partial<CheckConfig> = {}): CheckConfig {
  return {
    path: '/health',
    intervalMs: 60_000,
    timeoutMs: 1000,
    rise: 2,
    fall: 3,
    expect: 200,
    fastinterMs: null,
    downinterMs: null,
    observe: 'none',
    errorLimit: 10,
    onError: 'mark-down',
    ...overrides,
  };
}

function target(server: ServerConfig, check: CheckConfig, key = 'web/web1'): HealthTarget {
  return { key, server, check, dial: createDialer(server, upstreamTlsOptions(server)) };
}

interface Report {
  readonly key: string;
  readonly result: ProbeResult | null;
  readonly health: HealthState;
  readonly transition: Transition | null;
}

/** A reporter that records every call. */
function recorder() {
  const reports: Report[] = [];
  const reporter: HealthReporter = {
    onResult(key, result, health, transition) {
      reports.push({ key, result, health, transition });
    },
  };
  const transitions = () => reports.flatMap((r) => (r.transition ? [r.transition] : []));
  const last = () => reports.at(-1);
  return { reporter, reports, transitions, last };
}

// ---- probes and rise/fall against real servers --------------------------------------

describe('active checks against real servers', () => {
  it('a healthy server stays UP, and the check sends the expected request', async () => {
    const upstream = await startHttps(respondWith(() => 200));
    const rec = recorder();
    const checker = createHealthChecker({
      targets: [target(serverConfig(upstream.port, { servername: 'localhost' }), checkConfig())],
      reporter: rec.reporter,
    });
    for (let i = 0; i < 4; i += 1) await checker.runOnce('web/web1');
    expect(rec.reports.map((r) => r.result?.reason)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(rec.last()?.result).toMatchObject({ ok: true, status: 200 });
    expect(rec.transitions()).toEqual([]);
    expect(checker.health('web/web1')).toEqual({ status: 'UP', counter: 4 });
    expect(upstream.requests).toHaveLength(4);
    expect(upstream.requests[0]?.path).toBe('/health');
    expect(upstream.requests[0]?.headers).toMatchObject({ host: 'localhost', 'user-agent': 'doorman-health-check' });
    // One connection per probe, each closed.
    await waitFor(() => upstream.sockets.size === 0, 2000, 'connections to close');
  });

  it('a server answering 500 goes DOWN after fall checks and comes back UP after rise', async () => {
    let status = 200;
    const upstream = await startHttps(respondWith(() => status));
    const rec = recorder();
    const checker = createHealthChecker({
      targets: [target(serverConfig(upstream.port), checkConfig({ rise: 2, fall: 3 }))],
      reporter: rec.reporter,
    });
    await checker.runOnce('web/web1'); // full health first: a new server starts at counter = rise
    status = 500;
    const statuses: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      await checker.runOnce('web/web1');
      statuses.push(checker.health('web/web1')!.status);
    }
    expect(statuses).toEqual(['UP', 'UP', 'DOWN']);
    expect(rec.last()?.result).toMatchObject({ ok: false, status: 500, reason: 'http 500' });
    status = 200;
    statuses.length = 0;
    for (let i = 0; i < 2; i += 1) {
      await checker.runOnce('web/web1');
      statuses.push(checker.health('web/web1')!.status);
    }
    expect(statuses).toEqual(['DOWN', 'UP']);
    expect(rec.transitions()).toMatchObject([
      { from: 'UP', to: 'DOWN', reason: 'http 500' },
      { from: 'DOWN', to: 'UP', reason: 'ok' },
    ]);
    for (const t of rec.transitions()) {
      expect(t.checkDurationMs).toBeGreaterThanOrEqual(0);
      expect(t.previousStateMs).toBeGreaterThanOrEqual(0);
    }
  });

  it('a server whose key matches no pin never passes a check: tls: pin mismatch', async () => {
    const upstream = await startHttps(
      respondWith(() => 200),
      otherKey,
    );
    const rec = recorder();
    const server = serverConfig(upstream.port, { pins: [spkiPin(good.cert)] });
    const checker = createHealthChecker({ targets: [target(server, checkConfig({ rise: 1, fall: 1 }))], reporter: rec.reporter });
    for (let i = 0; i < 3; i += 1) await checker.runOnce('web/web1');
    expect(rec.reports.map((r) => r.result)).toMatchObject([
      { ok: false, status: null, reason: 'tls: pin mismatch' },
      { ok: false, status: null, reason: 'tls: pin mismatch' },
      { ok: false, status: null, reason: 'tls: pin mismatch' },
    ]);
    expect(checker.health('web/web1')?.status).toBe('DOWN');
    expect(upstream.requests).toHaveLength(0);
  });

  it('the same server passes with its own pin', async () => {
    const upstream = await startHttps(
      respondWith(() => 200),
      otherKey,
    );
    const server = serverConfig(upstream.port, { pins: [spkiPin(good.cert), spkiPin(otherKey.cert)] });
    const result = await probeServer(server, checkConfig(), createDialer(server, upstreamTlsOptions(server)));
    expect(result).toMatchObject({ ok: true, status: 200, reason: 'ok' });
  });

  it('a certificate from another CA fails with a tls reason', async () => {
    const upstream = await startHttps(respondWith(() => 200));
    const server = serverConfig(upstream.port, { ca: otherCaPath });
    const result = await probeServer(server, checkConfig(), createDialer(server, upstreamTlsOptions(server)));
    expect(result.ok).toBe(false);
    expect(result.status).toBeNull();
    expect(result.reason).toMatch(/^tls: /);
    expect(upstream.requests).toHaveLength(0);
  });

  it('a stopped server gives connect: ECONNREFUSED', async () => {
    const upstream = await startHttps(respondWith(() => 200));
    await upstream.close();
    const server = serverConfig(upstream.port);
    const result = await probeServer(server, checkConfig(), createDialer(server, upstreamTlsOptions(server)));
    expect(result).toMatchObject({ ok: false, status: null, reason: 'connect: ECONNREFUSED' });
  });

  it('a server that never answers gives timeout within about check.timeout, and no socket stays open', async () => {
    const upstream = await startHttps(() => undefined);
    const server = serverConfig(upstream.port);
    const started = Date.now();
    const result = await probeServer(server, checkConfig({ timeoutMs: 300 }), createDialer(server, upstreamTlsOptions(server)));
    const elapsed = Date.now() - started;
    expect(result).toMatchObject({ ok: false, status: null, reason: 'timeout' });
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(1500);
    expect(upstream.requests).toHaveLength(1);
    await waitFor(() => upstream.sockets.size === 0, 2000, 'the probe connection to close');
  });

  it('a TLS handshake that never completes gives timeout, and the half-open socket is closed', async () => {
    const upstream = await startSilentTcp();
    const server = serverConfig(upstream.port);
    const result = await probeServer(server, checkConfig({ timeoutMs: 300 }), createDialer(server, upstreamTlsOptions(server)));
    expect(result).toMatchObject({ ok: false, status: null, reason: 'timeout' });
    expect(result.durationMs).toBeLessThan(1500);
    await waitFor(() => upstream.sockets.size === 0, 2000, 'the half-open connection to close');
  });

  it('skips interim responses: 103 then 200 is ok', async () => {
    const upstream = await startRawTls('HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    const server = serverConfig(upstream.port);
    expect(await probeServer(server, checkConfig(), createDialer(server, upstreamTlsOptions(server)))).toMatchObject({
      ok: true,
      status: 200,
    });
  });

  it('a malformed status line fails with a protocol reason, not a status', async () => {
    const upstream = await startRawTls('HTTP/1.1 2x0 OK\r\n\r\n');
    const server = serverConfig(upstream.port);
    const result = await probeServer(server, checkConfig(), createDialer(server, upstreamTlsOptions(server)));
    expect(result).toMatchObject({ ok: false, status: null, reason: 'protocol: bad-status' });
  });

  it('a server that closes without answering fails as closed', async () => {
    const upstream = await startRawTls('');
    const server = serverConfig(upstream.port);
    const result = await probeServer(server, checkConfig(), createDialer(server, upstreamTlsOptions(server)));
    expect(result).toMatchObject({ ok: false, status: null, reason: 'closed: before the response' });
  });

  it('a head that never ends is cut at the head limit', async () => {
    const upstream = await startRawTls(`HTTP/1.1 200 OK\r\nX-Fill: ${'a'.repeat(200_000)}\r\n\r\n`);
    const server = serverConfig(upstream.port);
    const result = await probeServer(server, checkConfig({ timeoutMs: 5000 }), createDialer(server, upstreamTlsOptions(server)));
    expect(result).toMatchObject({ ok: false, status: null });
    expect(result.reason).toMatch(/^protocol: /);
  });

  it('an h2 backend server that only speaks HTTP/1.1 is still checked, over HTTP/1.1', async () => {
    const upstream = await startRawTls('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    const server = { ...serverConfig(upstream.port), protocol: 'h2' as const };
    expect(await probeServer(server, checkConfig(), createDialer(server, upstreamTlsOptions(server)))).toMatchObject({
      ok: true,
      status: 200,
    });
  });
});

// ---- passive checks ------------------------------------------------------------------

describe('passive checks', () => {
  it('mark-down: errorLimit consecutive errors force the server DOWN at once', async () => {
    const upstream = await startHttps(respondWith(() => 200));
    const rec = recorder();
    const check = checkConfig({ observe: 'layer4', errorLimit: 3, onError: 'mark-down' });
    const checker = createHealthChecker({ targets: [target(serverConfig(upstream.port), check)], reporter: rec.reporter });
    checker.observe('web/web1', false);
    checker.observe('web/web1', false);
    checker.observe('web/web1', true); // a success resets the count
    checker.observe('web/web1', false);
    checker.observe('web/web1', false);
    expect(checker.health('web/web1')?.status).toBe('UP');
    expect(rec.reports).toEqual([]);
    checker.observe('web/web1', false);
    expect(checker.health('web/web1')).toEqual({ status: 'DOWN', counter: 0 });
    expect(rec.reports).toHaveLength(1);
    expect(rec.reports[0]).toMatchObject({
      key: 'web/web1',
      result: null,
      transition: { from: 'UP', to: 'DOWN', reason: 'passive: 3 consecutive errors', checkDurationMs: 0 },
    });
    // Active checks bring it back after rise good ones.
    await checker.runOnce('web/web1');
    expect(checker.health('web/web1')?.status).toBe('DOWN');
    await checker.runOnce('web/web1');
    expect(checker.health('web/web1')?.status).toBe('UP');
  });

  it('observe: none ignores live traffic', () => {
    const rec = recorder();
    const check = checkConfig({ observe: 'none', errorLimit: 1 });
    const checker = createHealthChecker({ targets: [target(serverConfig(1), check)], reporter: rec.reporter });
    for (let i = 0; i < 5; i += 1) checker.observe('web/web1', false);
    expect(checker.health('web/web1')?.status).toBe('UP');
    expect(rec.reports).toEqual([]);
  });

  it('fastinter: errorLimit errors bring the next probe forward to fastinter', async () => {
    const upstream = await startHttps(respondWith(() => 200));
    const rec = recorder();
    const check = checkConfig({ intervalMs: 60_000, fastinterMs: 30, observe: 'layer7', errorLimit: 2, onError: 'fastinter' });
    const checker = createHealthChecker({
      targets: [target(serverConfig(upstream.port), check)],
      reporter: rec.reporter,
      random: () => 0, // first probe at once; then 0.9 × 60 s
    });
    checker.start();
    try {
      await waitFor(() => rec.reports.length >= 1, 5000, 'the first probe');
      expect(checker.health('web/web1')).toEqual({ status: 'UP', counter: 4 });
      checker.observe('web/web1', false);
      checker.observe('web/web1', false);
      expect(checker.health('web/web1')?.status).toBe('UP');
      await waitFor(() => rec.reports.length >= 2, 5000, 'the probe brought forward');
      expect(rec.transitions()).toEqual([]);
    } finally {
      await checker.stop();
    }
  });
});

// ---- the loop ------------------------------------------------------------------------

describe('start() and stop()', () => {
  it('a server stopped under a running checker gives exactly one UP->DOWN transition', async () => {
    const upstream = await startHttps(respondWith(() => 200));
    const rec = recorder();
    const check = checkConfig({ intervalMs: 50, timeoutMs: 500, rise: 2, fall: 3 });
    const checker = createHealthChecker({ targets: [target(serverConfig(upstream.port), check)], reporter: rec.reporter });
    checker.start();
    try {
      await waitFor(() => rec.reports.some((r) => r.result?.ok), 5000, 'a good check');
      await upstream.close();
      await waitFor(() => rec.transitions().length >= 1, 5000, 'the UP->DOWN transition');
      const afterDown = rec.reports.length;
      // A few more failed probes must not give another transition.
      await waitFor(() => rec.reports.length >= afterDown + 3, 5000, 'more probes');
      expect(rec.transitions()).toHaveLength(1);
      expect(rec.transitions()[0]).toMatchObject({ from: 'UP', to: 'DOWN', reason: 'connect: ECONNREFUSED' });
      expect(checker.health('web/web1')?.status).toBe('DOWN');
    } finally {
      await checker.stop();
    }
  });

  it('stop() waits for probes in flight and leaves no connection open', async () => {
    const upstream = await startHttps(respondWith(() => 200));
    const rec = recorder();
    let inFlight = 0;
    const counting: Probe = async (server, check, dial) => {
      inFlight += 1;
      try {
        return await probeServer(server, check, dial);
      } finally {
        inFlight -= 1;
      }
    };
    const targets = ['a', 'b', 'c'].map((name) => target(serverConfig(upstream.port), checkConfig({ intervalMs: 20 }), `web/${name}`));
    const checker = createHealthChecker({ targets, reporter: rec.reporter, probe: counting });
    checker.start();
    await waitFor(() => rec.reports.length >= 9, 5000, 'a few rounds of probes');
    await checker.stop();
    expect(inFlight).toBe(0);
    const reportsAtStop = rec.reports.length;
    await waitFor(() => upstream.sockets.size === 0, 2000, 'connections to close');
    expect(rec.reports.length).toBe(reportsAtStop);
    expect(process.getActiveResourcesInfo().filter((r) => r === 'TLSWrap')).toEqual([]);
  });
});

// ---- scheduling, with a scripted probe and fake timers -------------------------------

describe('scheduling', () => {
  const quiet: HealthReporter = { onResult: () => undefined };

  function scripted(outcomes: boolean[], calls: number[]): Probe {
    return () => {
      calls.push(Date.now());
      const ok = outcomes.shift() ?? true;
      return Promise.resolve({ ok, status: ok ? 200 : 503, durationMs: 1, reason: ok ? 'ok' : 'http 503' });
    };
  }

  it('uses fastinter in transition, downinter when fully DOWN, interval when fully UP', async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const calls: number[] = [];
      const check = checkConfig({ intervalMs: 1000, fastinterMs: 100, downinterMs: 5000, rise: 2, fall: 2 });
      const checker = createHealthChecker({
        targets: [target(serverConfig(1), check)],
        reporter: quiet,
        probe: scripted([true, false, false, true, true], calls),
        random: () => 0.5, // first probe at interval/2, jitter factor exactly 1
      });
      checker.start();
      await vi.advanceTimersByTimeAsync(8000);
      // 500 first; ok -> fully UP (+1000); fail -> UP 1/2 (+100); fail -> DOWN (+5000);
      // ok -> DOWN 1/2 (+100); ok -> UP (+1000) ...
      expect(calls.slice(0, 6)).toEqual([500, 1500, 1600, 6600, 6700, 7700]);
      await checker.stop();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('jitter keeps intervals within ±10 %', async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const calls: number[] = [];
      let n = 0;
      const randoms = [0, 1, 0, 0.25, 0.75];
      const checker = createHealthChecker({
        targets: [target(serverConfig(1), checkConfig({ intervalMs: 1000 }))],
        reporter: quiet,
        probe: scripted([], calls),
        random: () => randoms[n++ % randoms.length]!,
      });
      checker.start(); // first offset: 0
      await vi.advanceTimersByTimeAsync(4000);
      const gaps = calls.slice(1).map((t, i) => t - calls[i]!);
      expect(calls[0]).toBe(0);
      expect(gaps.slice(0, 3)).toEqual([1100, 900, 950]);
      await checker.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('never runs two probes of one target at once', async () => {
    let active = 0;
    let maxActive = 0;
    let release: (() => void) | null = null;
    const slow: Probe = async () => {
      active += 1;
      maxActive = Math.max(maxActive, active);
      await new Promise<void>((resolve) => (release = resolve));
      active -= 1;
      return { ok: true, status: 200, durationMs: 1, reason: 'ok' };
    };
    const checker = createHealthChecker({ targets: [target(serverConfig(1), checkConfig())], reporter: quiet, probe: slow });
    const runs = [checker.runOnce('web/web1'), checker.runOnce('web/web1'), checker.runOnce()];
    for (let i = 0; i < 3; i += 1) {
      await waitFor(() => release !== null, 2000, 'a probe to start');
      const r = release!;
      release = null;
      r();
    }
    await Promise.all(runs);
    expect(maxActive).toBe(1);
  });

  it('setTargets keeps the health of kept keys, starts new ones and drops removed ones', async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const calls: number[] = [];
      const rec = recorder();
      const check = checkConfig({ intervalMs: 1000 });
      const a = target(serverConfig(1), check, 'web/a');
      const b = target(serverConfig(2), check, 'web/b');
      const checker = createHealthChecker({
        targets: [a, b],
        reporter: rec.reporter,
        probe: scripted([false, false], calls),
        random: () => 0.5,
      });
      await checker.runOnce();
      expect(checker.health('web/a')?.status).toBe('DOWN');
      checker.start();
      checker.setTargets([a, target(serverConfig(3), check, 'web/c')]);
      expect(checker.health('web/a')?.status).toBe('DOWN');
      expect(checker.health('web/b')).toBeUndefined();
      expect(checker.health('web/c')).toEqual({ status: 'UP', counter: 2 });
      expect(vi.getTimerCount()).toBe(2);
      await vi.advanceTimersByTimeAsync(600);
      expect(new Set(rec.reports.slice(2).map((r) => r.key))).toEqual(new Set(['web/a', 'web/c']));
      expect(() => checker.setTargets([a, a])).toThrow(/duplicate/);
      await checker.stop();
      expect(vi.getTimerCount()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });
});
