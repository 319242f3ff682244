// Regressions found in review: request targets undici cannot send, the keep-alive
// timeout after a body, Forwarded spoofing, counters present before their first event.
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend } from '../helpers/backend.js';
import { rawExchange, request } from '../helpers/client.js';
import { startProxy } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();
const cert = pki.selfSigned('web1');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(options: Parameters<typeof startProxy>[2] = {}) {
  const backend = await startBackend({ name: 'web1', tls: cert });
  cleanups.push(() => backend.close());
  const running = await startProxy(pki.front, [{ name: 'web1', address: backend.address, trust: cert }], options);
  cleanups.push(() => running.close());
  return { backend, running };
}

describe('request targets', () => {
  it('answers OPTIONS * with 400 without retrying or blaming the server', async () => {
    const { running, backend } = await setup({ backend: { check: { interval: '60s', observe: 'layer7', errorLimit: 1 } } });
    for (let i = 0; i < 3; i++) {
      const out = await rawExchange(running.port(), 'OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', pki.ca.cert);
      expect(out).toMatch(/^HTTP\/1\.1 400 /);
    }
    const server = running.lb.backends.get('web')!.servers[0]!;
    expect(server.healthy).toBe(true);
    expect(server.errors).toBe(0);
    expect(backend.requests).toHaveLength(0);
    expect(await running.lb.metrics.registry.getSingleMetricAsString('lb_retries_total')).toContain('lb_retries_total{backend="web"} 0');
  });

  it('forwards an absolute-form request as its path', async () => {
    const { running, backend } = await setup();
    const out = await rawExchange(running.port(), 'GET http://shop.example/a/b?c=1 HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n', pki.ca.cert);
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    expect(backend.requests[0]!.url).toBe('/a/b?c=1');
  });
});

describe('forwarding headers', () => {
  it('drops a client Forwarded header from an untrusted client', async () => {
    const { running, backend } = await setup();
    await request({ port: running.port(), ca: pki.ca.cert, headers: { forwarded: 'for=6.6.6.6' } });
    expect(backend.requests[0]!.headers.forwarded).toBeUndefined();
  });
});

describe('client idle limits around a request body', () => {
  it('still closes an idle keep-alive connection after a request answered before its body was read', async () => {
    const { running } = await setup({ top: { timeouts: { client: '500ms' } } });
    await running.lb.control.setState('web', 'web1', 'MAINT');
    const socket = tls.connect({ host: '127.0.0.1', port: running.port(), ca: pki.ca.cert, servername: 'localhost' });
    let text = '';
    let closedAt = 0;
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('close', () => (closedAt = Date.now()));
    socket.on('error', () => {});
    await new Promise((r) => socket.once('secureConnect', r));
    socket.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345');
    await waitFor(() => text.startsWith('HTTP/1.1 503'), 5000, '503');
    socket.write('67890');
    const sentAt = Date.now();
    await waitFor(() => closedAt > 0, 4000, 'idle connection closed');
    expect(closedAt - sentAt).toBeLessThan(2500);
  });

  it('closes a client that stalls its body once it is being forwarded, and frees the server slot', async () => {
    const { running } = await setup({ top: { timeouts: { client: '400ms' } } });
    const server = running.lb.backends.get('web')!.servers[0]!;
    const socket = tls.connect({ host: '127.0.0.1', port: running.port(), ca: pki.ca.cert, servername: 'localhost' });
    let closedAt = 0;
    socket.on('close', () => (closedAt = Date.now()));
    socket.on('error', () => {});
    await new Promise((r) => socket.once('secureConnect', r));
    socket.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789');
    await waitFor(() => server.active === 1, 5000, 'request forwarded');
    const stalledAt = Date.now();
    await waitFor(() => closedAt > 0, 5000, 'stalled client closed');
    expect(closedAt - stalledAt).toBeLessThan(1500);
    await waitFor(() => server.active === 0, 5000, 'slot freed');
  });
});
