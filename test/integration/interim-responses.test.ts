// Interim (1xx) responses from servers: 103 Early Hints reach HTTP/1.1 clients in order
// before the final answer, exactly as written (hop-by-hop fields out, header rules in),
// never HTTP/1.0 clients; HTTP/2 clients get them as a HEADERS frame; an HTTP/2 server's
// 103 is relayed too; a server's 100 Continue stays between it and Doorman; a server that
// sends 1xx after 1xx without a final answer is a malformed response (502).
import http2, { type IncomingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRawBackend } from '../helpers/backend.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { within } from '../helpers/wait.js';

const pki = testPki();
const h2Cert = pki.selfSigned('web1');

const HINT = 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nConnection: x-hop\r\nX-Hop: 1\r\n\r\n';
const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

/** What the raw server answers for each path. */
const ANSWERS: Record<string, string> = {
  '/hints': HINT + OK,
  '/continue': 'HTTP/1.1 100 Continue\r\n\r\n' + OK,
  '/ten': HINT.repeat(10) + OK,
  '/flood': HINT.repeat(11) + OK,
};

/** A plain-TCP server writing the answer of each request's path, keep-alive. */
function answerByPath(socket: Socket): void {
  let pending = '';
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    for (let end = pending.indexOf('\r\n\r\n'); end >= 0; end = pending.indexOf('\r\n\r\n')) {
      const path = pending.split(' ')[1] ?? '';
      pending = pending.slice(end + 4);
      socket.write(ANSWERS[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    }
  });
}

/** Sends one request on a fresh TLS connection (HTTP/1.1 by ALPN) and reads every byte until the server closes. */
function rawRequest(port: number, head: string): Promise<string> {
  return within(
    new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.ca.cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
      const chunks: Buffer[] = [];
      socket.once('secureConnect', () => socket.write(head));
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('error', reject);
    }),
    10_000,
    'the raw response',
  );
}

interface H2Seen {
  readonly interim: IncomingHttpHeaders[];
  readonly status: number;
  readonly body: string;
}

function h2Get(port: number, path: string): Promise<H2Seen> {
  const session = http2.connect(`https://localhost:${port}`, { ca: pki.ca.cert });
  session.on('error', () => {});
  const interim: IncomingHttpHeaders[] = [];
  return within(
    new Promise<H2Seen>((resolve, reject) => {
      const stream = session.request({ ':path': path });
      let status = 0;
      const chunks: Buffer[] = [];
      stream.on('headers', (h) => interim.push(h));
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => resolve({ interim, status, body: Buffer.concat(chunks).toString() }));
      stream.on('error', reject);
    }),
    10_000,
    'the h2 response',
  ).finally(() => session.close());
}

describe('interim responses from an HTTP/1.1 server', () => {
  let raw: Awaited<ReturnType<typeof startRawBackend>>;
  let running: RunningLb;

  beforeAll(async () => {
    raw = await startRawBackend(undefined, answerByPath);
    running = await startProxy(pki.front, [{ name: 'raw', address: raw.address }], {
      backend: { headers: { response: { set: { 'x-rule': 'on' } } } },
    });
  });

  afterAll(async () => {
    await running?.close();
    await raw?.close();
  });

  it('sends an HTTP/1.1 client the 103, hop-by-hop fields out and header rules in, then the 200', async () => {
    const text = await rawRequest(running.port(), 'GET /hints HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(text.startsWith('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nx-rule: on\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
    expect(text.endsWith('\r\n\r\nok')).toBe(true);
  });

  it('sends an HTTP/1.0 client only the final answer', async () => {
    const text = await rawRequest(running.port(), 'GET /hints HTTP/1.0\r\nHost: a\r\n\r\n');
    expect(text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(text).not.toContain(' 103 ');
  });

  it('keeps a server 100 Continue to itself when the client asked for none', async () => {
    const text = await rawRequest(running.port(), 'GET /continue HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(text).not.toContain('100 Continue');
  });

  it('relays ten interim responses and answers 502 to an eleventh', async () => {
    const ten = await rawRequest(running.port(), 'GET /ten HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(ten.split('HTTP/1.1 103 Early Hints\r\n').length - 1).toBe(10);
    expect(ten).toContain('HTTP/1.1 200 OK\r\n');
    const flood = await rawRequest(running.port(), 'GET /flood HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(flood.split('HTTP/1.1 103 Early Hints\r\n').length - 1).toBe(10);
    expect(flood.slice(flood.lastIndexOf('\r\n\r\nHTTP/1.1 ') + 4)).toMatch(/^HTTP\/1\.1 502 /);
    const line = running.logs.find((l) => l.path === '/flood');
    expect(line?.error).toBe('protocol: too many interim responses');
  });

  it('sends an HTTP/2 client the 103 as its own HEADERS frame', async () => {
    const seen = await h2Get(running.port(), '/hints');
    expect(seen.interim.map((h) => [h[':status'], h.link, h['x-hop'], h['x-rule']])).toEqual([
      [103, '</a.css>; rel=preload', undefined, 'on'],
    ]);
    expect([seen.status, seen.body]).toEqual([200, 'ok']);
  });

  it('answers an HTTP/2 client 502 after an interim flood', async () => {
    const seen = await h2Get(running.port(), '/flood');
    expect(seen.interim.length).toBe(10);
    expect(seen.status).toBe(502);
  });
});

describe('interim responses from an HTTP/2 server', () => {
  let server: http2.Http2SecureServer;
  let running: RunningLb;

  beforeAll(async () => {
    server = http2.createSecureServer({ cert: h2Cert.cert, key: h2Cert.key });
    server.on('stream', (stream) => {
      stream.additionalHeaders({ ':status': 103, link: '</b.js>; rel=preload' });
      stream.respond({ ':status': 200, 'content-length': '2' });
      stream.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    running = await startProxy(pki.front, [{ name: 'web1', address: `127.0.0.1:${port}`, trust: h2Cert }], { backend: { protocol: 'h2' } });
  });

  afterAll(async () => {
    await running?.close();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  it('relays the 103 to an HTTP/1.1 client', async () => {
    const text = await rawRequest(running.port(), 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(text.startsWith('HTTP/1.1 103 Early Hints\r\nlink: </b.js>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
  });

  it('relays the 103 to an HTTP/2 client', async () => {
    const seen = await h2Get(running.port(), '/x');
    expect(seen.interim.map((h) => [h[':status'], h.link])).toEqual([[103, '</b.js>; rel=preload']]);
    expect([seen.status, seen.body]).toEqual([200, 'ok']);
  });
});
