// Header passes: hop-by-hop headers in both directions, X-Forwarded-* and Forwarded,
// Host checks, and requests carrying a Trailer header.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { rawExchange, request } from '../helpers/client.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';

const pki = testPki();
const cert = pki.selfSigned('web1');

async function proxyWith(forwardFor: Record<string, unknown>) {
  const backend = await startBackend({ name: 'web1', tls: cert });
  const running = await startProxy(pki.front, [{ name: 'web1', address: backend.address, trust: cert }], {
    backend: { forwardFor },
    plain: true,
  });
  return { backend, running };
}

describe('request headers', () => {
  let backend: TestBackend;
  let running: RunningLb;
  beforeAll(async () => ({ backend, running } = await proxyWith({})));
  afterAll(async () => {
    await running.close();
    await backend.close();
  });

  it.each(['Keep-Alive', 'Proxy-Connection', 'TE', 'Trailer', 'Upgrade', 'X-Named'])('drops %s upstream', async (name) => {
    const before = backend.requests.length;
    const out = await rawExchange(
      running.port(),
      `GET / HTTP/1.1\r\nHost: a\r\n${name}: ${name === 'TE' ? 'trailers' : 'v'}\r\n` + 'Connection: close, X-Named\r\nX-Kept: yes\r\n\r\n',
      pki.ca.cert,
    );
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    const seen = backend.requests[before]!;
    expect(seen.headers[name.toLowerCase()]).toBeUndefined();
    expect(seen.headers['x-kept']).toBe('yes');
    // The Connection header the backend sees is undici's own, not the client's.
    expect(seen.headers.connection ?? '').not.toContain('X-Named');
  });

  it('sets X-Forwarded-* from the frontend and drops the client values', async () => {
    const before = backend.requests.length;
    await request({
      port: running.port(),
      ca: pki.ca.cert,
      headers: { host: 'shop.example:8443', 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'gopher', 'x-forwarded-port': '1' },
    });
    const h = backend.requests[before]!.headers;
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('https');
    expect(h['x-forwarded-port']).toBe(String(running.port()));
    expect(h['x-forwarded-host']).toBe('shop.example:8443');
    expect(h.host).toBe('shop.example:8443');
  });

  it('drops a client Forwarded header from an untrusted client', async () => {
    const before = backend.requests.length;
    await request({ port: running.port(), ca: pki.ca.cert, headers: { forwarded: 'for=6.6.6.6' } });
    expect(backend.requests[before]!.headers.forwarded).toBeUndefined();
  });

  it('says http on the plain frontend', async () => {
    const before = backend.requests.length;
    await request({ port: running.port('http') });
    const h = backend.requests[before]!.headers;
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-port']).toBe(String(running.port('http')));
  });

  it('answers 400 to HTTP/1.1 without Host', async () => {
    const out = await rawExchange(running.port(), 'GET / HTTP/1.1\r\n\r\n', pki.ca.cert);
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('answers 400 to Content-Length with Transfer-Encoding (smuggling shape)', async () => {
    const before = backend.requests.length;
    const out = await rawExchange(
      running.port(),
      'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      pki.ca.cert,
    );
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(backend.requests.length).toBe(before);
  });

  it('forwards a chunked request with a Trailer header and its body', async () => {
    const before = backend.requests.length;
    const out = await rawExchange(
      running.port(),
      'POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n',
      pki.ca.cert,
    );
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    const seen = backend.requests[before]!;
    expect(seen.body).toBe('hello');
    expect(seen.headers.trailer).toBeUndefined();
  });
});

describe('response headers', () => {
  let backend: TestBackend;
  let running: RunningLb;
  beforeAll(async () => {
    ({ backend, running } = await proxyWith({}));
    backend.setHandler((_req, res) => {
      res.setHeader('Connection', 'keep-alive, X-Secret-Hop');
      res.setHeader('Keep-Alive', 'timeout=5');
      res.setHeader('Proxy-Connection', 'keep-alive');
      res.setHeader('Upgrade', 'h2c');
      res.setHeader('Trailer', 'X-Sum');
      res.setHeader('X-Secret-Hop', '1');
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.setHeader('X-End', 'kept');
      res.end('ok');
    });
  });
  afterAll(async () => {
    await running.close();
    await backend.close();
  });

  it('drops hop-by-hop and Connection-named headers and keeps the rest', async () => {
    const reply = await request({ port: running.port(), ca: pki.ca.cert });
    expect(reply.status).toBe(200);
    for (const name of ['keep-alive', 'proxy-connection', 'upgrade', 'trailer', 'x-secret-hop']) {
      expect(reply.headers[name], name).toBeUndefined();
    }
    expect(reply.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(reply.headers['x-end']).toBe('kept');
    expect(reply.body).toBe('ok');
  });
});

describe('forwardFor', () => {
  it('appends to a trusted client chain', async () => {
    const { backend, running } = await proxyWith({ trusted: ['127.0.0.0/8'] });
    try {
      await request({ port: running.port(), ca: pki.ca.cert, headers: { 'x-forwarded-for': '203.0.113.9' } });
      expect(backend.requests[0]!.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    } finally {
      await running.close();
      await backend.close();
    }
  });

  it('adds nothing for clients in except', async () => {
    const { backend, running } = await proxyWith({ except: '127.0.0.1/32' });
    try {
      await request({ port: running.port(), ca: pki.ca.cert, headers: { 'x-forwarded-for': '203.0.113.9' } });
      expect(backend.requests[0]!.headers['x-forwarded-for']).toBeUndefined();
    } finally {
      await running.close();
      await backend.close();
    }
  });
});
