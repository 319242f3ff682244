// PROXY protocol on a frontend: from a trusted peer the header is required and its
// address is the client's for everything (X-Forwarded-For, access log, source
// balancing); from anyone else a header is never read, so it fails as garbage would.
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { rawExchange, request } from '../helpers/client.js';
import { startLb, tempDir, writePair, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { closed, connectWithHeader, h2RequestOver, requestOver, v1Header, v2Header } from '../helpers/proxy-protocol.js';
import { waitFor, within } from '../helpers/wait.js';

const pki = testPki();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Backends web1..N and a balancer whose `https` and `http` frontends both take PROXY protocol as given. */
async function setUp(
  proxyProtocol: Record<string, unknown>,
  options: { servers?: number; balance?: string } = {},
): Promise<{ running: RunningLb; backends: TestBackend[] }> {
  const backends: TestBackend[] = [];
  for (let i = 1; i <= (options.servers ?? 1); i++) {
    const backend = await startBackend({ name: `web${i}` });
    cleanups.push(() => backend.close());
    backends.push(backend);
  }
  const dir = tempDir();
  const running = await startLb(
    {
      frontends: [
        { name: 'https', bind: '127.0.0.1:0', tls: { certs: [writePair(dir, 'front', pki.front)] }, backend: 'web', proxyProtocol },
        { name: 'http', bind: '127.0.0.1:0', backend: 'web', proxyProtocol },
      ],
      backends: [
        { name: 'web', balance: options.balance ?? 'roundrobin', servers: backends.map((b) => ({ name: b.name, address: b.address })) },
      ],
    },
    dir,
  );
  cleanups.push(() => running.close());
  return { running, backends };
}

function accessLines(running: RunningLb): Record<string, unknown>[] {
  return running.logs.filter((l) => l.msg === 'access');
}

function metricsText(running: RunningLb): Promise<string> {
  return running.lb.metrics.registry.metrics();
}

describe('PROXY protocol from a trusted peer', () => {
  it('takes the v1 address over TLS for X-Forwarded-For and the access log', async () => {
    const { running, backends } = await setUp({ trusted: ['127.0.0.0/8'] });
    const socket = await connectWithHeader(running.port(), v1Header('203.0.113.9', '198.51.100.1', 40123, 443));
    const reply = await requestOver(socket, pki.ca.cert);
    expect(reply.status).toBe(200);
    expect(backends[0]!.requests.at(-1)!.headers['x-forwarded-for']).toBe('203.0.113.9');
    await waitFor(() => accessLines(running).length > 0, 5000, 'the access line');
    expect(accessLines(running).at(-1)).toMatchObject({ clientAddress: '203.0.113.9', clientPort: 40123 });
  });

  it('takes the v2 address for HTTP/2 streams, and an IPv6 one in its one spelling', async () => {
    const { running, backends } = await setUp({ trusted: ['127.0.0.1'] });
    const socket = await connectWithHeader(running.port(), v2Header('192.0.2.44', '198.51.100.1', 5555, 443));
    expect((await h2RequestOver(socket, pki.ca.cert)).status).toBe(200);
    expect(backends[0]!.requests.at(-1)!.headers['x-forwarded-for']).toBe('192.0.2.44');
    const six = await connectWithHeader(running.port(), v1Header('2001:DB8:0:0::7', '2001:db8::1', 1, 443));
    expect((await requestOver(six, pki.ca.cert)).status).toBe(200);
    expect(backends[0]!.requests.at(-1)!.headers['x-forwarded-for']).toBe('2001:db8::7');
  });

  it('balances `source` by the carried address, whatever the real peer', async () => {
    const { running, backends } = await setUp({ trusted: ['127.0.0.0/8'] }, { servers: 2, balance: 'source' });
    const serverOf = async (client: string): Promise<string> => {
      const reply = await requestOver(await connectWithHeader(running.port(), v1Header(client, '198.51.100.1', 1000, 443)), pki.ca.cert);
      return reply.body.split(' ')[0]!;
    };
    const picks = new Map<string, string>();
    for (let i = 1; i <= 12; i++) picks.set(`198.18.0.${i}`, await serverOf(`198.18.0.${i}`));
    // The same carried address always lands on the same server; different ones spread.
    for (const [client, server] of picks) expect(await serverOf(client)).toBe(server);
    expect(new Set(picks.values()).size).toBe(2);
    expect(backends.every((b) => b.requests.length > 0)).toBe(true);
  });

  it('reads a header split over many TCP writes, and the bytes after it', async () => {
    const { running, backends } = await setUp({ trusted: ['127.0.0.0/8'] });
    const socket = await connectWithHeader(running.port('http'), v1Header('203.0.113.77', '198.51.100.1', 2000, 80), 3);
    const done = closed(socket);
    socket.write('GET /split HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(await within(done, 5000, 'the answer')).toMatch(/^HTTP\/1\.1 200 /);
    expect(backends[0]!.requests.at(-1)).toMatchObject({ url: '/split', headers: { 'x-forwarded-for': '203.0.113.77' } });
  });

  it("takes the connection's own address for v1 UNKNOWN and v2 LOCAL (the peer's health checks)", async () => {
    const { running, backends } = await setUp({ trusted: ['127.0.0.0/8'] });
    const local = Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex');
    for (const header of [Buffer.from('PROXY UNKNOWN\r\n'), local]) {
      const socket = await connectWithHeader(running.port('http'), header);
      const done = closed(socket);
      socket.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
      expect(await within(done, 5000, 'the answer')).toMatch(/^HTTP\/1\.1 200 /);
      expect(backends[0]!.requests.at(-1)!.headers['x-forwarded-for']).toBe('127.0.0.1');
    }
  });

  it('closes a connection whose header is missing, malformed or late, and keeps serving', async () => {
    const { running } = await setUp({ trusted: ['127.0.0.0/8'], timeout: '300ms' });
    // No header: a plain request is not a PROXY header.
    expect(await rawExchange(running.port('http'), 'GET / HTTP/1.1\r\nHost: a\r\n\r\n')).toBe('');
    // No header before TLS: the handshake never starts.
    await expect(request({ port: running.port(), ca: pki.ca.cert })).rejects.toThrow();
    // Malformed.
    const bad = await connectWithHeader(running.port('http'), Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n'));
    expect(await within(closed(bad), 5000, 'the close')).toBe('');
    // Late: nothing after connecting.
    const silent = await connectWithHeader(running.port('http'), Buffer.alloc(0));
    expect(await within(closed(silent), 5000, 'the timeout')).toBe('');
    const metrics = await metricsText(running);
    expect(metrics).toMatch(/lb_proxy_protocol_errors_total\{frontend="http",reason="no-signature"\} 1/);
    expect(metrics).toMatch(/lb_proxy_protocol_errors_total\{frontend="http",reason="bad-port"\} 1/);
    expect(metrics).toMatch(/lb_proxy_protocol_errors_total\{frontend="http",reason="timeout"\} 1/);
    expect(running.logs.some((l) => l.msg === 'PROXY header refused: connection closed' && l.err === 'timeout')).toBe(true);
    // Still serving.
    const good = await connectWithHeader(running.port(), v1Header('203.0.113.1', '198.51.100.1', 1, 443));
    expect((await requestOver(good, pki.ca.cert)).status).toBe(200);
  });
});

describe('PROXY protocol from an untrusted peer', () => {
  it('never reads a header: TLS fails, HTTP answers 400, plain traffic is served', async () => {
    const { running, backends } = await setUp({ trusted: ['10.0.0.0/8'] });
    const tlsSocket = await connectWithHeader(running.port(), v1Header('203.0.113.9', '198.51.100.1', 1, 443));
    await expect(requestOver(tlsSocket, pki.ca.cert)).rejects.toThrow();
    const plain = await connectWithHeader(running.port('http'), v1Header('203.0.113.9', '198.51.100.1', 1, 80));
    const done = closed(plain);
    plain.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(await within(done, 5000, 'the close')).toMatch(/^HTTP\/1\.1 400 /);
    const v2 = await connectWithHeader(running.port('http'), v2Header('203.0.113.9', '198.51.100.1', 1, 80));
    const v2done = closed(v2);
    v2.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(await within(v2done, 5000, 'the close')).toMatch(/^HTTP\/1\.1 400 /);
    expect(backends[0]!.requests).toHaveLength(0);
    // Its ordinary traffic is served as on any frontend.
    expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(200);
    expect(backends[0]!.requests.at(-1)!.headers['x-forwarded-for']).toBe('127.0.0.1');
  });
});
