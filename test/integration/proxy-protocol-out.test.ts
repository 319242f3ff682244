// PROXY protocol to servers (`servers[].proxyProtocol`): the header comes first on each
// new connection (before TLS), names the client connection (the real peer, or what a
// trusted PROXY header carried in), a connection is never reused for another client
// connection, and health checks send one naming nobody (v1 UNKNOWN, v2 LOCAL).
import { afterEach, describe, expect, it } from 'vitest';
import { request } from '../helpers/client.js';
import { startLb, tempDir, writePair, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { connectWithHeader, h2Get, h2SessionOver, startProxyBackend, v1Header, type ProxyBackend } from '../helpers/proxy-protocol.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Setup {
  readonly running: RunningLb;
  readonly backend: ProxyBackend;
}

async function setUp(version: 'v1' | 'v2', options: { tls?: boolean; h2?: boolean; check?: boolean } = {}): Promise<Setup> {
  const cert = pki.selfSigned('web1');
  const backend = await startProxyBackend(options.tls || options.h2 ? cert : undefined, { h2: options.h2 });
  cleanups.push(() => backend.close());
  const dir = tempDir();
  const server: Record<string, unknown> = { name: 'web1', address: backend.address, proxyProtocol: version };
  if (options.tls || options.h2) server.tls = { ca: writePair(dir, 'web1', cert).cert, servername: 'web1' };
  const running = await startLb(
    {
      frontends: [
        {
          name: 'https',
          bind: '127.0.0.1:0',
          tls: { certs: [writePair(dir, 'front', pki.front)] },
          backend: 'web',
          proxyProtocol: { trusted: ['127.0.0.0/8'] },
        },
      ],
      backends: [
        {
          name: 'web',
          protocol: options.h2 ? 'h2' : 'http1',
          ...(options.check ? { check: { path: '/health', interval: '200ms', timeout: '200ms', rise: 1, fall: 1 } } : {}),
          servers: [server],
        },
      ],
    },
    dir,
  );
  cleanups.push(() => running.close());
  return { running, backend };
}

/** `count` requests from one client connection whose PROXY header says `client`, over HTTP/2 (several in flight). */
async function asClient(running: RunningLb, client: string, count: number): Promise<string[]> {
  const socket = await connectWithHeader(running.port(), v1Header(client, '198.51.100.1', 40000, 443));
  const session = h2SessionOver(socket, pki.ca.cert);
  try {
    const replies = await Promise.all(Array.from({ length: count }, (_, i) => h2Get(session, `/${client}/${i}`)));
    expect(replies.map((r) => r.status)).toEqual(new Array<number>(count).fill(200));
    return replies.map((r) => r.body);
  } finally {
    session.close();
  }
}

describe.each([
  ['v1', { tls: false }],
  ['v2', { tls: true }],
  ['v1', { tls: true, h2: true }],
] as const)('proxyProtocol %s to a server (%o)', (version, options) => {
  it('names each client connection in its own upstream connections, never shared', async () => {
    const { running, backend } = await setUp(version, options);
    const [a, b] = await Promise.all([asClient(running, '203.0.113.1', 6), asClient(running, '203.0.113.2', 6)]);
    expect(new Set(a)).toEqual(new Set(['source=203.0.113.1\n']));
    expect(new Set(b)).toEqual(new Set(['source=203.0.113.2\n']));
    // Every request's connection carried its own client's header.
    for (const r of backend.requests) expect(r.path.startsWith(`/${r.header.source}/`)).toBe(true);
    expect(backend.headers.every((h) => h.version === (version === 'v1' ? 1 : 2))).toBe(true);
    expect(backend.refused).toBe(0);
  });

  it('names the real peer when no PROXY header came in, and reuses the connection for that client', async () => {
    const { running, backend } = await setUp(version, options);
    // The frontend trusts 127.0.0.0/8, so a direct client sends UNKNOWN: the connection's own address counts.
    const socket = await connectWithHeader(running.port(), Buffer.from('PROXY UNKNOWN\r\n'));
    const session = h2SessionOver(socket, pki.ca.cert);
    cleanups.push(() => new Promise<void>((resolve) => session.close(resolve)));
    for (let i = 0; i < 3; i++) expect((await h2Get(session, '/')).body).toBe('source=127.0.0.1\n');
    expect(backend.headers).toHaveLength(1);
  });
});

describe('health checks to a server that takes a PROXY header', () => {
  it.each([
    ['v1', 'UNKNOWN', false],
    ['v2', 'LOCAL', true],
  ] as const)('%s: sends %s and keeps the server up (tls: %s)', async (version, source, tls) => {
    const { running, backend } = await setUp(version, { tls, check: true });
    await waitFor(() => backend.requests.filter((r) => r.path === '/health').length >= 2, 5000, 'two checks');
    expect(backend.requests.filter((r) => r.path === '/health').every((r) => r.header.source === source)).toBe(true);
    expect(backend.refused).toBe(0);
    expect(running.lb.backends.get('web')!.servers[0]!.healthy).toBe(true);
    // Traffic still names its client.
    const socket = await connectWithHeader(running.port(), v1Header('192.0.2.50', '198.51.100.1', 1, 443));
    const session = h2SessionOver(socket, pki.ca.cert);
    cleanups.push(() => new Promise<void>((resolve) => session.close(resolve)));
    expect((await h2Get(session, '/')).body).toBe('source=192.0.2.50\n');
  });
});

describe('a server without proxyProtocol', () => {
  it('gets no header (the helper backend would refuse the connection)', async () => {
    const cert = pki.selfSigned('web1');
    const backend = await startProxyBackend(cert);
    cleanups.push(() => backend.close());
    const dir = tempDir();
    const running = await startLb(
      {
        frontends: [{ name: 'https', bind: '127.0.0.1:0', tls: { certs: [writePair(dir, 'front', pki.front)] }, backend: 'web' }],
        backends: [
          {
            name: 'web',
            retries: 0,
            servers: [{ name: 'web1', address: backend.address, tls: { ca: writePair(dir, 'web1', cert).cert, servername: 'web1' } }],
          },
        ],
      },
      dir,
    );
    cleanups.push(() => running.close());
    expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(502);
    await waitFor(() => backend.refused === 1, 5000, 'the refusal');
  });
});
