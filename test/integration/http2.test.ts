// HTTP/2 clients on the TLS frontend (ALPN h2), with HTTP/1.1 servers behind: every
// stream is an exchange like an HTTP/1.1 request (cookie, forwarded headers, errors,
// one access line with the protocol), and HTTP/1.1 clients keep working on the same port.
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { request } from '../helpers/client.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { once, waitFor } from '../helpers/wait.js';

const pki = testPki();
const web1Cert = pki.selfSigned('web1');
const web2Cert = pki.selfSigned('web2');

interface H2Answer {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

function connect(port: number): ClientHttp2Session {
  const session = http2.connect(`https://localhost:${port}`, { ca: pki.ca.cert });
  session.on('error', () => {});
  return session;
}

function h2request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: string): Promise<H2Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    let answer: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => (answer = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ headers: answer, body: Buffer.concat(chunks).toString() }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  });
}

describe('HTTP/2 clients', () => {
  let web1: TestBackend;
  let web2: TestBackend;
  let running: RunningLb;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    web1 = await startBackend({ name: 'web1', tls: web1Cert });
    web2 = await startBackend({ name: 'web2', tls: web2Cert });
    running = await startProxy(
      pki.front,
      [
        { name: 'web1', address: web1.address, trust: web1Cert },
        { name: 'web2', address: web2.address, trust: web2Cert },
      ],
      { backend: { cookie: { name: 'WEBSERVERID' } }, top: { admin: { bind: '127.0.0.1:0' } } },
    );
    session = connect(running.port());
  });

  afterAll(async () => {
    session?.close();
    await running?.close();
    await web1?.close();
    await web2?.close();
  });

  it('negotiates h2 by ALPN and answers a GET through an HTTP/1.1 server, with the persistence cookie', async () => {
    const answer = await h2request(session, { ':path': '/hello?x=1' });
    expect(answer.headers[':status']).toBe(200);
    expect(answer.body).toMatch(/^backend=web[12] path=\/hello\?x=1/);
    expect(String(answer.headers['set-cookie'])).toMatch(/^WEBSERVERID=web[12]; /);
    expect((session.socket as tls.TLSSocket).alpnProtocol).toBe('h2');
  });

  it('sends the server Host from :authority, joined cookies without ours, and X-Forwarded-*', async () => {
    const before = web1.requests.length + web2.requests.length;
    // The client splits cookies into separate fields, as browsers do over HTTP/2.
    await h2request(session, { ':path': '/seen', cookie: ['a=1', 'WEBSERVERID=web1', 'b=2'] });
    const seen = [...web1.requests, ...web2.requests].slice(before).find((r) => r.url === '/seen')!;
    expect(seen).toBeDefined();
    expect(seen.headers.host).toBe(`localhost:${running.port()}`);
    expect(seen.headers.cookie).toBe('a=1; b=2');
    expect(seen.headers['x-forwarded-proto']).toBe('https');
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.rawHeaders.some((name) => name.startsWith(':'))).toBe(false);
    expect(web1.requests.at(-1)?.url).toBe('/seen');
  });

  it('forwards a request body, with and without content-length', async () => {
    const withLength = await h2request(session, { ':method': 'POST', ':path': '/post1', 'content-length': '5' }, 'hello');
    const streamed = await h2request(session, { ':method': 'POST', ':path': '/post2' }, 'streamed body');
    expect([withLength.headers[':status'], streamed.headers[':status']]).toEqual([200, 200]);
    const bodies = Object.fromEntries(
      [...web1.requests, ...web2.requests].filter((r) => r.url.startsWith('/post')).map((r) => [r.url, r.body]),
    );
    expect(bodies).toEqual({ '/post1': 'hello', '/post2': 'streamed body' });
  });

  it('runs many streams of one connection at once', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => h2request(session, { ':path': `/many/${i}` })));
    expect(answers.map((a) => a.headers[':status'])).toEqual(Array(50).fill(200));
    answers.forEach((a, i) => expect(a.body).toContain(`path=/many/${i}`));
  });

  it('refuses :authority and host that disagree with 400, and keeps the connection', async () => {
    const answer = await h2request(session, { ':path': '/conflict', ':authority': `localhost:${running.port()}`, host: 'other.example' });
    expect(answer.headers[':status']).toBe(400);
    expect((await h2request(session, { ':path': '/after' })).headers[':status']).toBe(200);
  });

  it('writes one access line per stream with httpVersion 2.0, and counts streams', async () => {
    await h2request(session, { ':path': '/logged' });
    await waitFor(() => running.logs.some((l) => l.msg === 'access' && l.path === '/logged'), 5000, 'access line');
    expect(running.logs.find((l) => l.msg === 'access' && l.path === '/logged')).toMatchObject({
      httpVersion: '2.0',
      status: 200,
      termination: 'normal',
    });
    const metrics = await fetch(`http://127.0.0.1:${running.lb.adminPort()}/metrics`).then((r) => r.text());
    const streams = Number(/lb_http2_streams_total\{frontend="https"\} (\d+)/.exec(metrics)?.[1]);
    expect(streams).toBeGreaterThanOrEqual(55);
  });

  it('answers 502 on a stream when the server is unreachable, and the session lives on', async () => {
    const lone = await startBackend({ name: 'web1', tls: web1Cert });
    const proxy = await startProxy(pki.front, [{ name: 'web1', address: lone.address, trust: web1Cert }], { backend: { retries: 0 } });
    await lone.close();
    const s = connect(proxy.port());
    try {
      expect((await h2request(s, { ':path': '/' })).headers[':status']).toBe(502);
      expect((await h2request(s, { ':path': '/' })).headers[':status']).toBe(502);
    } finally {
      s.close();
      await proxy.close();
    }
  });

  it('keeps serving HTTP/1.1 clients on the same port', async () => {
    const reply = await request({ port: running.port(), ca: pki.ca.cert, path: '/h1' });
    expect(reply.status).toBe(200);
    expect(reply.body).toContain('path=/h1');
  });
});

describe('HTTP/2 drain', () => {
  it('sends GOAWAY on shutdown and lets the stream in flight finish', async () => {
    let release: (() => void) | undefined;
    const web1 = await startBackend({
      name: 'web1',
      tls: web1Cert,
      handler: (_req, res) => {
        release = () => res.writeHead(200, { 'content-type': 'text/plain' }).end('finished\n');
      },
    });
    const running = await startProxy(pki.front, [{ name: 'web1', address: web1.address, trust: web1Cert }]);
    const session = connect(running.port());
    try {
      const inFlight = h2request(session, { ':path': '/slow' });
      await waitFor(() => release !== undefined, 5000, 'request at the server');
      const goaway = once(session, 'goaway', 5000);
      const stopped = running.lb.shutdown();
      await goaway;
      release!();
      const answer = await inFlight;
      expect([answer.headers[':status'], answer.body]).toEqual([200, 'finished\n']);
      await stopped;
    } finally {
      session.destroy();
      await running.close();
      await web1.close();
    }
  });
});

describe('ALPN', () => {
  it('offers only HTTP/1.1 with alpn: [http/1.1]: an h2-only client is refused, an h1 client served', async () => {
    const web1 = await startBackend({ name: 'web1', tls: web1Cert });
    const running = await startProxy(pki.front, [{ name: 'web1', address: web1.address, trust: web1Cert }], {
      frontend: { alpn: ['http/1.1'] },
    });
    try {
      const socket = tls.connect({
        port: running.port(),
        host: '127.0.0.1',
        servername: 'localhost',
        ca: pki.ca.cert,
        ALPNProtocols: ['h2'],
      });
      const refused = await new Promise<Error>((resolve) => socket.once('error', resolve));
      expect(refused.message).toContain('no application protocol');
      const both = tls.connect({
        port: running.port(),
        host: '127.0.0.1',
        servername: 'localhost',
        ca: pki.ca.cert,
        ALPNProtocols: ['h2', 'http/1.1'],
      });
      await once(both, 'secureConnect', 5000);
      expect(both.alpnProtocol).toBe('http/1.1');
      both.destroy();
      expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(200);
    } finally {
      await running.close();
      await web1.close();
    }
  });
});

describe('response trailers from HTTP/1.1 servers to HTTP/2 clients', () => {
  const webCert = pki.selfSigned('web');
  let web: https.Server;
  let running: RunningLb;

  beforeAll(async () => {
    // Chunked answers with a trailer section: in one piece (`/now`), or the trailers a moment after the body (`/later`).
    web = https.createServer({ cert: webCert.cert, key: webCert.key }, (req, res) => {
      res.setHeader('Trailer', 'x-sum');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.addTrailers({ 'x-sum': req.url === '/now' ? 'now-5' : 'later-5' });
      if (req.url === '/now') res.end('hello');
      else {
        res.write('hel');
        setTimeout(() => res.end('lo'), 50);
      }
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    const { port } = web.address() as AddressInfo;
    running = await startProxy(pki.front, [{ name: 'web', address: `127.0.0.1:${port}`, trust: webCert }]);
  });

  afterAll(async () => {
    await running?.close();
    await new Promise((resolve) => web?.close(resolve));
  });

  function withTrailers(path: string): Promise<{ status: unknown; body: string; trailers: IncomingHttpHeaders }> {
    const session = connect(running.port());
    return new Promise((resolve, reject) => {
      const stream = session.request({ ':path': path });
      let status: unknown;
      let trailers: IncomingHttpHeaders = {};
      const chunks: Buffer[] = [];
      stream.on('response', (h) => (status = h[':status']));
      stream.on('trailers', (t: IncomingHttpHeaders) => (trailers = t));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        session.close();
        resolve({ status, body: Buffer.concat(chunks).toString(), trailers });
      });
      stream.on('error', reject);
    });
  }

  it('relays a body and trailers that came with the head in one piece', async () => {
    const answer = await withTrailers('/now');
    expect(answer).toMatchObject({ status: 200, body: 'hello' });
    expect(answer.trailers['x-sum']).toBe('now-5');
  });

  it('relays trailers that come after the head and part of the body', async () => {
    const answer = await withTrailers('/later');
    expect(answer).toMatchObject({ status: 200, body: 'hello' });
    expect(answer.trailers['x-sum']).toBe('later-5');
  });
});
