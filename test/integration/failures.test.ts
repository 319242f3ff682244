// Bad clients and bad servers: each gets a clear answer (or an aborted response),
// and the balancer keeps serving.
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend, startRawBackend } from '../helpers/backend.js';
import { rawExchange, request } from '../helpers/client.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { once, waitFor } from '../helpers/wait.js';

const pki = testPki();
const cert = pki.selfSigned('web1');
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function proxyTo(address: string, options: Parameters<typeof startProxy>[2] = {}): Promise<RunningLb> {
  const running = await startProxy(pki.front, [{ name: 'web1', address, trust: cert }], options);
  cleanups.push(() => running.close());
  return running;
}

async function rawBackend(onConnection: Parameters<typeof startRawBackend>[1]) {
  const backend = await startRawBackend(cert, onConnection);
  cleanups.push(backend.close);
  return backend;
}

/** A response whose framing is broken in `shape`, answered to every request. */
function answering(response: string) {
  return rawBackend((socket) => socket.once('data', () => socket.write(response)));
}

describe('malformed upstream responses', () => {
  const shapes = {
    'Content-Length with Transfer-Encoding': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'a space in a header name': 'HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 0\r\n\r\n',
    'garbage status line': 'HTTP/9 banana\r\n\r\n',
  };
  for (const [shape, response] of Object.entries(shapes)) {
    it(`answers 502 to ${shape} and does not reuse the connection`, async () => {
      const backend = await answering(response);
      const running = await proxyTo(backend.address, { backend: { retries: 0 } });
      const first = await request({ port: running.port(), ca: pki.ca.cert });
      expect(first.status).toBe(502);
      const second = await request({ port: running.port(), ca: pki.ca.cert });
      expect(second.status).toBe(502);
      expect(backend.connections()).toBe(2);
    });
  }

  it('aborts the client response on a bad chunk size after the headers', async () => {
    const backend = await answering('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n');
    const running = await proxyTo(backend.address);
    await expect(request({ port: running.port(), ca: pki.ca.cert })).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
  });

  it('aborts the client response when the body is shorter than Content-Length', async () => {
    const backend = await rawBackend((socket) =>
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly-ten!!')),
    );
    const running = await proxyTo(backend.address);
    await expect(request({ port: running.port(), ca: pki.ca.cert })).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    await waitFor(() => running.logs.some((l) => l.msg === 'access'), 5000, 'access log');
    expect(running.logs.find((l) => l.msg === 'access')?.termination).toBe('server-aborted');
  });

  it('aborts the client response when the server resets mid-body', async () => {
    const backend = await rawBackend((socket) =>
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
        setImmediate(() => socket.destroy());
      }),
    );
    const running = await proxyTo(backend.address);
    await expect(request({ port: running.port(), ca: pki.ca.cert })).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
  });
});

describe('upstream timeouts', () => {
  it('answers 504 when the server is silent past timeouts.server', async () => {
    const backend = await rawBackend(() => {});
    const running = await proxyTo(backend.address, { top: { timeouts: { server: '300ms' } }, backend: { retries: 0 } });
    const started = Date.now();
    const reply = await request({ port: running.port(), ca: pki.ca.cert });
    expect(reply.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(3000);
  });
});

describe('client side limits', () => {
  it('closes a slowloris connection within timeouts.client + 1s with 408', async () => {
    const backend = await startBackend({ name: 'web1', tls: cert });
    cleanups.push(backend.close);
    const running = await proxyTo(backend.address, { top: { timeouts: { client: '500ms' } } });
    const started = Date.now();
    const out = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port: running.port(), ca: pki.ca.cert, servername: 'localhost' });
      let received = '';
      socket.once('secureConnect', () => socket.write('GET / HTTP/1.1\r\nHost: a\r\n'));
      // Trickle a header byte every 100 ms, never finishing the head.
      const trickle = setInterval(() => socket.writable && socket.write('X'), 100);
      socket.on('data', (c: Buffer) => (received += c.toString()));
      socket.on('close', () => {
        clearInterval(trickle);
        resolve(received);
      });
      socket.on('error', reject);
    });
    expect(Date.now() - started).toBeLessThan(1500);
    expect(out).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('answers 431 to headers too large', async () => {
    const backend = await startBackend({ name: 'web1', tls: cert });
    cleanups.push(backend.close);
    const running = await proxyTo(backend.address);
    const out = await rawExchange(running.port(), `GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, pki.ca.cert);
    expect(out).toMatch(/^HTTP\/1\.1 431 /);
    expect(backend.requests).toHaveLength(0);
  });

  it('closes a keep-alive connection idle past timeouts.client after an answer sent before the request body was read', async () => {
    const backend = await startBackend({ name: 'web1', tls: cert });
    cleanups.push(backend.close);
    const running = await proxyTo(backend.address, { top: { timeouts: { client: '500ms' } } });
    // Every server in MAINT: Doorman answers 503 itself, without reading the body.
    await running.lb.control.setState('web', 'web1', 'MAINT');
    const socket = tls.connect({ host: '127.0.0.1', port: running.port(), ca: pki.ca.cert, servername: 'localhost' });
    let text = '';
    let closedAt = 0;
    socket.on('data', (c: Buffer) => (text += c.toString()));
    socket.on('close', () => (closedAt = Date.now()));
    socket.on('error', () => {});
    await once(socket, 'secureConnect');
    socket.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345');
    await waitFor(() => text.startsWith('HTTP/1.1 503'), 5000, '503');
    socket.write('67890');
    const sentAt = Date.now();
    await waitFor(() => closedAt > 0, 4000, 'idle connection closed');
    expect(closedAt - sentAt).toBeLessThan(2500);
  });

  it('closes a client that stalls its request body past timeouts.client once it is forwarded, and frees the server slot', async () => {
    const backend = await startBackend({ name: 'web1', tls: cert });
    cleanups.push(backend.close);
    const running = await proxyTo(backend.address, { top: { timeouts: { client: '400ms' } } });
    const server = running.lb.backends.get('web')!.servers[0]!;
    const socket = tls.connect({ host: '127.0.0.1', port: running.port(), ca: pki.ca.cert, servername: 'localhost' });
    let closedAt = 0;
    socket.on('close', () => (closedAt = Date.now()));
    socket.on('error', () => {});
    await once(socket, 'secureConnect');
    socket.write('POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789');
    await waitFor(() => server.active === 1, 5000, 'request forwarded');
    const stalledAt = Date.now();
    await waitFor(() => closedAt > 0, 5000, 'stalled client closed');
    expect(closedAt - stalledAt).toBeLessThan(1500);
    await waitFor(() => server.active === 0, 5000, 'slot freed');
  });

  it('frees the upstream request when the client aborts mid-body', async () => {
    let upstreamClosed = false;
    const backend = await startBackend({ name: 'web1', tls: cert });
    cleanups.push(backend.close);
    backend.server.removeAllListeners('request');
    backend.server.on('request', (req) => {
      req.on('data', () => {});
      req.on('close', () => (upstreamClosed = true));
    });
    const running = await proxyTo(backend.address);
    const socket = tls.connect({ host: '127.0.0.1', port: running.port(), ca: pki.ca.cert, servername: 'localhost' });
    await once(socket, 'secureConnect');
    socket.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(1000));
    const server = running.lb.backends.get('web')!.servers[0]!;
    await waitFor(() => server.active === 1, 5000, 'request in flight');
    socket.destroy();
    await waitFor(() => upstreamClosed && server.active === 0, 5000, 'upstream request freed');
    await waitFor(() => running.logs.some((l) => l.msg === 'access'), 5000, 'access log');
    expect(running.logs.find((l) => l.msg === 'access')?.termination).toBe('client-aborted');
  });
});
