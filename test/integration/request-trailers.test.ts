// Request trailers, client to server: a gRPC-style client stream from an HTTP/2 client
// ends with trailers that reach an HTTP/2 server (its own trailing HEADERS) and an
// HTTP/1.1 server (a trailer section after the last chunk, read by node:http as
// req.trailers); a chunked HTTP/1.1 client's trailers travel the same way; a body with a
// Content-Length to an HTTP/1.1 server has no room for them (dropped); trailer fields
// that frame, route or belong to the connection are refused (RST_STREAM over h2, 400
// over HTTP/1.1) and never reach the server.
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { FLAG, FRAME, frame, headerBlock, openRawH2, requestHeaders } from '../helpers/h2-frames.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor, within } from '../helpers/wait.js';

const pki = testPki();
const h2Cert = pki.selfSigned('web2');

interface Echo {
  readonly body: string;
  readonly trailers: Record<string, unknown>;
}

/** Streams `parts` from an HTTP/2 client and ends with `trailers`; the server's echo, or the reset code. */
function h2Stream(
  port: number,
  path: string,
  parts: string[],
  trailers: OutgoingHttpHeaders,
  extra: OutgoingHttpHeaders = {},
): Promise<{ status: number; echo: Echo | null; rstCode: number }> {
  const session = http2.connect(`https://localhost:${port}`, { ca: pki.ca.cert });
  session.on('error', () => {});
  return within(
    new Promise<{ status: number; echo: Echo | null; rstCode: number }>((resolve) => {
      const stream = session.request(
        { ':method': 'POST', ':path': path, 'content-type': 'application/grpc', ...extra },
        { waitForTrailers: true },
      );
      let status = 0;
      const chunks: Buffer[] = [];
      stream.on('response', (h: IncomingHttpHeaders) => (status = Number(h[':status'])));
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('wantTrailers', () => stream.sendTrailers(trailers));
      stream.on('error', () => {});
      stream.on('close', () => {
        const text = Buffer.concat(chunks).toString();
        resolve({ status, echo: status === 200 ? (JSON.parse(text) as Echo) : null, rstCode: stream.rstCode ?? 0 });
      });
      // One message per write, as a client-streaming call sends them.
      let i = 0;
      const next = () => {
        if (i === parts.length) stream.end();
        else stream.write(parts[i++], next);
      };
      next();
    }),
    10_000,
    'the h2 stream',
  ).finally(() => session.close());
}

/** One HTTP/1.1 request over TLS (Connection: close); everything the proxy answered. */
function h1Raw(port: number, text: string): Promise<string> {
  return within(
    new Promise<string>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.ca.cert, servername: 'localhost', ALPNProtocols: ['http/1.1'] });
      const chunks: Buffer[] = [];
      socket.once('secureConnect', () => socket.write(text));
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
      socket.on('error', reject);
    }),
    10_000,
    'the h1 response',
  );
}

const CHUNKED_WITH = (path: string, trailers: string) =>
  `POST ${path} HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n${trailers}\r\n`;

function echoOf(response: string): Echo {
  expect(response).toMatch(/^HTTP\/1\.1 200 /);
  const text = response.slice(response.indexOf('\r\n\r\n') + 4);
  // A chunked answer: one chunk here.
  const json = /^[0-9a-f]+\r\n/.test(text) ? text.slice(text.indexOf('\r\n') + 2, text.lastIndexOf('\r\n0\r\n')) : text;
  return JSON.parse(json) as Echo;
}

describe('request trailers to an HTTP/1.1 server', () => {
  let backend: TestBackend;
  let running: RunningLb;
  const seenTrailers: Array<[string, Record<string, unknown>]> = [];

  beforeAll(async () => {
    backend = await startBackend({
      name: 'web1',
      handler: (req, res, body) => {
        seenTrailers.push([req.url ?? '', { ...req.trailers }]);
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ body, trailers: req.trailers }));
      },
    });
    running = await startProxy(pki.front, [{ name: 'web1', address: backend.address }]);
  });

  afterAll(async () => {
    await running?.close();
    await backend?.close();
  });

  it('sends an HTTP/2 client stream’s trailers after the last chunk', async () => {
    const answer = await h2Stream(running.port(), '/up', ['ab', 'cd', 'ef'], { 'x-checksum': 'abc', 'grpc-meta': ['1', '2'] });
    expect(answer.echo).toEqual({ body: 'abcdef', trailers: { 'x-checksum': 'abc', 'grpc-meta': '1, 2' } });
  });

  it('sends a chunked HTTP/1.1 client’s trailers on', async () => {
    const answer = echoOf(await h1Raw(running.port(), CHUNKED_WITH('/up', 'X-Checksum: abc\r\nX-Other:  two words \r\n')));
    expect(answer).toEqual({ body: 'abc', trailers: { 'x-checksum': 'abc', 'x-other': 'two words' } });
  });

  it('drops the trailers of a body sent with a Content-Length', async () => {
    const answer = await h2Stream(running.port(), '/up', ['ab', 'cd'], { 'x-checksum': 'abc' }, { 'content-length': '4' });
    expect(answer.echo).toEqual({ body: 'abcd', trailers: {} });
  });

  it('resets an HTTP/2 stream whose trailers carry a framing or routing field, and forwards nothing of it', async () => {
    for (const [i, bad] of [{ 'content-length': '3' }, { host: 'elsewhere' }].entries()) {
      const path = `/bad-h2-${i}`;
      const answer = await h2Stream(running.port(), path, ['ab'], bad);
      expect(answer.echo).toBeNull();
      expect(answer.rstCode).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR);
      await waitFor(() => running.logs.some((l) => l.msg === 'access' && l.path === path), 5000, 'the access line');
      expect(backend.requests.some((r) => r.url === path)).toBe(false);
    }
  });

  it('never passes on an HTTP/2 trailer value holding CR LF (nghttp2 drops the field)', async () => {
    const raw = await openRawH2(running.port(), pki.ca.cert);
    const post = requestHeaders(running.port(), '/bad-raw').map(([n, v]) => (n === ':method' ? ([n, 'POST'] as const) : ([n, v] as const)));
    raw.send(
      frame(FRAME.HEADERS, FLAG.END_HEADERS, 1, headerBlock(post)),
      frame(FRAME.DATA, 0, 1, Buffer.from('ab')),
      frame(
        FRAME.HEADERS,
        FLAG.END_HEADERS | FLAG.END_STREAM,
        1,
        headerBlock([
          ['x-bad', 'a\r\nhost: evil'],
          ['x-good', 'kept'],
        ]),
      ),
    );
    await waitFor(() => seenTrailers.some(([url]) => url === '/bad-raw'), 5000, 'the request at the server');
    raw.socket.destroy();
    expect(seenTrailers.find(([url]) => url === '/bad-raw')![1]).toEqual({ 'x-good': 'kept' });
  });

  it('answers 400 to a chunked HTTP/1.1 body whose trailers carry a connection field, and forwards nothing of it', async () => {
    for (const [i, bad] of ['Keep-Alive: 5\r\n', 'Content-Length: 3\r\n', 'TE: trailers\r\n'].entries()) {
      const path = `/bad-h1-${i}`;
      const response = await h1Raw(running.port(), CHUNKED_WITH(path, bad));
      expect(response).toMatch(/^HTTP\/1\.1 400 /);
      expect(backend.requests.some((r) => r.url === path)).toBe(false);
    }
  });
});

describe('request trailers to an HTTP/2 server', () => {
  let server: http2.Http2SecureServer;
  let running: RunningLb;

  beforeAll(async () => {
    server = http2.createSecureServer({ cert: h2Cert.cert, key: h2Cert.key });
    server.on('stream', (stream) => {
      const chunks: Buffer[] = [];
      let trailers: Record<string, unknown> = {};
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('trailers', (t: IncomingHttpHeaders) => (trailers = { ...t }));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/json' });
        stream.end(JSON.stringify({ body: Buffer.concat(chunks).toString(), trailers }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    running = await startProxy(pki.front, [{ name: 'web2', address: `127.0.0.1:${port}`, trust: h2Cert }], { backend: { protocol: 'h2' } });
  });

  afterAll(async () => {
    await running?.close();
    await new Promise<void>((resolve) => server?.close(() => resolve()));
  });

  it('sends an HTTP/2 client stream’s trailers as the request’s trailing HEADERS', async () => {
    const answer = await h2Stream(running.port(), '/up', ['ab', 'cd'], { 'x-checksum': 'abc' });
    expect(answer.echo).toEqual({ body: 'abcd', trailers: { 'x-checksum': 'abc' } });
  });

  it('sends a chunked HTTP/1.1 client’s trailers too', async () => {
    const answer = echoOf(await h1Raw(running.port(), CHUNKED_WITH('/up', 'X-Checksum: abc\r\n')));
    expect(answer).toEqual({ body: 'abc', trailers: { 'x-checksum': 'abc' } });
  });

  it('ends a stream without trailers as before', async () => {
    const answer = await h2Stream(running.port(), '/up', ['ab'], {});
    expect(answer.echo).toEqual({ body: 'ab', trailers: {} });
  });
});
