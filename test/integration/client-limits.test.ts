// Per-client limits through the balancer: connections closed at accept past the limit
// and served again once one closes, 429 with Retry-After per request and per HTTP/2
// stream (logged and counted like any answer), deny and allow lists, limits keyed by a
// PROXY header's address, reloads, and per-worker counting with `workers: 2`.
import { writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { metric, parseMetrics } from '../helpers/admin.js';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { startCli } from '../helpers/cli.js';
import { request } from '../helpers/client.js';
import { startLb, tempDir, writePair, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { closed, connectWithHeader, v1Header } from '../helpers/proxy-protocol.js';
import { once, waitFor, within } from '../helpers/wait.js';
import { parseConfig } from '../../src/config/load.js';

const pki = testPki();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function configOf(backend: TestBackend, dir: string, frontend: Record<string, unknown>): Record<string, unknown> {
  return {
    frontends: [
      { name: 'https', bind: '127.0.0.1:0', tls: { certs: [writePair(dir, 'front', pki.front)] }, backend: 'web', ...frontend },
      { name: 'http', bind: '127.0.0.1:0', backend: 'web', ...frontend },
    ],
    backends: [{ name: 'web', servers: [{ name: 'web1', address: backend.address }] }],
  };
}

async function setUp(frontend: Record<string, unknown>): Promise<{ running: RunningLb; backend: TestBackend; dir: string }> {
  const backend = await startBackend({ name: 'web1' });
  cleanups.push(() => backend.close());
  const dir = tempDir();
  const running = await startLb(configOf(backend, dir, frontend), dir);
  cleanups.push(() => running.close());
  return { running, backend, dir };
}

async function metricValue(running: RunningLb, name: string, labels: Record<string, string>): Promise<number | undefined> {
  return metric(parseMetrics(await running.lb.metrics.registry.metrics()), name, labels);
}

/** A kept-alive plain connection that has been served one request (so it is surely counted), or null when it was closed at accept. */
async function servedConnection(port: number): Promise<net.Socket | null> {
  const socket = net.connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  const gone = closed(socket);
  await once(socket, 'connect');
  socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  const answer = await within(
    Promise.race([new Promise<string>((resolve) => socket.once('data', (c: Buffer) => resolve(c.toString()))), gone.then(() => 'closed')]),
    5000,
    'an answer or a close',
  );
  if (answer === 'closed') return null;
  expect(answer).toMatch(/^HTTP\/1\.1 200 /);
  return socket;
}

describe('connections per client', () => {
  it('closes connections past the limit at accept, and admits again once one closes', async () => {
    const { running } = await setUp({ limits: { connections: 2 } });
    const port = running.port('http');
    const first = await servedConnection(port);
    const second = await servedConnection(port);
    expect(first).not.toBeNull();
    expect(second).not.toBeNull();
    expect(await servedConnection(port)).toBeNull();
    expect(await metricValue(running, 'lb_limit_rejections_total', { frontend: 'http', reason: 'connections' })).toBe(1);
    const line = running.logs.find((l) => l.msg === 'client over its limit');
    expect(line).toMatchObject({ frontend: 'http', client: '127.0.0.1', reason: 'connections', rejected: 1 });
    const gone = closed(first!);
    first!.destroy();
    await gone;
    await waitFor(async () => await servedConnection(port).then((s) => (s?.destroy(), s !== null)), 5000, 'a freed slot');
    second!.destroy();
  });
});

describe('request rate', () => {
  it('answers 429 with Retry-After past the burst, logged and counted, one log line per client', async () => {
    const { running, backend } = await setUp({ limits: { requestRate: { rate: 1, per: '1m', burst: 2 } } });
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(await request({ port: running.port(), ca: pki.ca.cert }));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 429, 429, 429]);
    const limited = replies[2]!;
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(50);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limited.body).toBe('429 Too Many Requests\n');
    expect(backend.requests).toHaveLength(2);
    await waitFor(() => running.logs.filter((l) => l.msg === 'access').length === 5, 5000, 'five access lines');
    expect(running.logs.filter((l) => l.msg === 'access' && l.status === 429)).toHaveLength(3);
    expect(running.logs.find((l) => l.msg === 'access' && l.status === 429)).toMatchObject({
      termination: 'rate-limited',
      backend: '',
      frontend: 'https',
    });
    expect(running.logs.filter((l) => l.msg === 'client over its limit')).toHaveLength(1);
    expect(await metricValue(running, 'lb_limit_rejections_total', { frontend: 'https', reason: 'rate' })).toBe(3);
  });

  it('counts every HTTP/2 stream', async () => {
    const { running, backend } = await setUp({ limits: { requestRate: { rate: 1, per: '1m', burst: 3 } } });
    const session = http2.connect(`https://localhost:${running.port()}`, { ca: pki.ca.cert });
    session.on('error', () => {});
    cleanups.push(() => new Promise<void>((resolve) => session.close(resolve)));
    const statuses = await Promise.all(
      [1, 2, 3, 4, 5].map(async () => {
        const stream = session.request({ ':path': '/' });
        const [headers] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
        stream.resume();
        return [Number(headers[':status']), Number(headers['retry-after'] ?? 0)] as const;
      }),
    );
    expect(statuses.filter(([s]) => s === 200)).toHaveLength(3);
    expect(statuses.filter(([s, after]) => s === 429 && after > 0)).toHaveLength(2);
    expect(backend.requests).toHaveLength(3);
  });
});

describe('allow and deny', () => {
  it('closes denied clients at accept, before TLS', async () => {
    const { running, backend } = await setUp({ limits: { deny: ['127.0.0.0/8'] } });
    await expect(request({ port: running.port(), ca: pki.ca.cert })).rejects.toThrow();
    expect(await servedConnection(running.port('http'))).toBeNull();
    expect(backend.requests).toHaveLength(0);
    expect(await metricValue(running, 'lb_limit_rejections_total', { frontend: 'http', reason: 'deny' })).toBe(1);
    expect(await metricValue(running, 'lb_limit_rejections_total', { frontend: 'https', reason: 'deny' })).toBe(1);
  });

  it('with an allow list, closes everyone else', async () => {
    const { running } = await setUp({ limits: { allow: ['10.0.0.0/8', '::1'] } });
    expect(await servedConnection(running.port('http'))).toBeNull();
  });
});

describe("limits by the PROXY header's address", () => {
  it('keys limits and deny by the carried address, each of hundreds of clients its own bucket', async () => {
    const { running, backend } = await setUp({
      proxyProtocol: { trusted: ['127.0.0.0/8'] },
      limits: { requestRate: { rate: 1, per: '1m', burst: 1 }, deny: ['203.0.113.0/24'], tableSize: 100 },
    });
    const ask = async (client: string): Promise<string> => {
      const socket = await connectWithHeader(running.port('http'), v1Header(client, '198.51.100.1', 1000, 80));
      const done = closed(socket);
      socket.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      return (await within(done, 5000, `the answer to ${client}`)).split('\r\n')[0]!;
    };
    // Many carried clients from one real peer: each has its own bucket (the table holds 100 resting ones).
    for (let i = 0; i < 300; i++) expect(await ask(`198.18.${i >> 8}.${i & 0xff}`)).toBe('HTTP/1.1 200 OK');
    const recent = '198.18.1.43'; // the 300th: surely still remembered
    expect(await ask(recent)).toBe('HTTP/1.1 429 Too Many Requests');
    expect(await ask('203.0.113.5')).toBe('');
    expect(backend.requests.every((r) => String(r.headers['x-forwarded-for']).startsWith('198.18.'))).toBe(true);
  });
});

describe('reload', () => {
  it('applies new limits to new connections; open ones stay counted', async () => {
    const { running, backend, dir } = await setUp({ limits: { connections: 3 } });
    const port = running.port('http');
    const open = [await servedConnection(port), await servedConnection(port)];
    expect(open.every((s) => s !== null)).toBe(true);
    const next = configOf(backend, dir, { limits: { connections: 2 } });
    const file = join(dir, 'lb.yaml');
    const text = stringify({ admin: null, ...next });
    writeFileSync(file, text);
    expect(await running.lb.reload(parseConfig(text, file))).toEqual([]);
    // Two are open: at the new limit.
    expect(await servedConnection(port)).toBeNull();
    const gone = closed(open[0]!);
    open[0]!.destroy();
    await gone;
    await waitFor(async () => await servedConnection(port).then((s) => (s?.destroy(), s !== null)), 5000, 'a freed slot');
    open[1]!.destroy();
  });
});

describe('workers: 2', () => {
  it('counts per worker: a client gets at most workers × connections', async () => {
    const backend = await startBackend({ name: 'web1' });
    cleanups.push(() => backend.close());
    const dir = tempDir('doorman-limits-workers-');
    const config = {
      workers: 2,
      admin: { bind: '127.0.0.1:0' },
      frontends: [{ name: 'http', bind: '127.0.0.1:0', backend: 'web', limits: { connections: 1 } }],
      backends: [{ name: 'web', servers: [{ name: 'web1', address: backend.address }] }],
    };
    writeFileSync(join(dir, 'lb.yaml'), stringify(config));
    const cli = startCli(['-c', 'lb.yaml'], dir);
    cleanups.push(() => cli.kill());
    const port = (await cli.waitForLine((l) => l.msg === 'listening' && l.frontend === 'http', 15_000, 'listening')).port as number;
    const admin = (await cli.waitForLine((l) => l.msg === 'admin listening', 15_000, 'admin listening')).port as number;
    const attempts = 8;
    const served: net.Socket[] = [];
    for (let i = 0; i < attempts; i++) {
      const socket = await servedConnection(port);
      if (socket) served.push(socket);
    }
    // Never more than one per worker; at least the configured one.
    expect(served.length).toBeGreaterThanOrEqual(1);
    expect(served.length).toBeLessThanOrEqual(2);
    const samples = parseMetrics(await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text());
    expect(metric(samples, 'lb_limit_rejections_total', { frontend: 'http', reason: 'connections' })).toBe(attempts - served.length);
    for (const socket of served) socket.destroy();
  });
});
