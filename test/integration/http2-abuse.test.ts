// Abusive HTTP/2 clients: each is cut off (GOAWAY, RST_STREAM or a closed connection)
// while the process and a well-behaved client on another connection notice nothing.
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { FLAG, FRAME, frame, headerBlock, openRawH2, requestHeaders } from '../helpers/h2-frames.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor, within } from '../helpers/wait.js';

const pki = testPki();
const webCert = pki.selfSigned('web1');
const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_PROTOCOL_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

let web: TestBackend;
let running: RunningLb;
/** Requests the backend is holding (the concurrency test), released at the end of it. */
const held: Array<() => void> = [];

beforeAll(async () => {
  web = await startBackend({
    name: 'web1',
    tls: webCert,
    handler: (req, res) => {
      const answer = () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      if (req.url === '/hold') held.push(answer);
      else answer();
    },
  });
  running = await startProxy(pki.front, [{ name: 'web1', address: web.address, trust: webCert }], {
    frontend: { http2: { maxConcurrentStreams: 10, maxResetsPerSecond: 50 } },
    top: { admin: { bind: '127.0.0.1:0' }, timeouts: { client: '2s' } },
  });
});

afterAll(async () => {
  for (const release of held.splice(0)) release();
  await running?.close();
  await web?.close();
});

/** A well-behaved client on its own connection: it must get its answer. */
async function politeGet(): Promise<number> {
  const session = http2.connect(`https://localhost:${running.port()}`, { ca: pki.ca.cert });
  session.on('error', () => {});
  try {
    return await within(
      new Promise<number>((resolve, reject) => {
        const stream = session.request({ ':path': '/polite' });
        stream.on('response', (h) => resolve(Number(h[':status'])));
        stream.on('error', reject);
        stream.resume();
      }),
      10_000,
      'polite answer',
    );
  } finally {
    session.close();
  }
}

async function metric(name: string): Promise<string> {
  const text = await fetch(`http://127.0.0.1:${running.lb.adminPort()}/metrics`).then((r) => r.text());
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .join('\n');
}

describe('HTTP/2 heads that must not reach an HTTP/1.1 server', () => {
  async function answerTo(
    fields: ReadonlyArray<readonly [string, string]>,
    data?: { body: string },
  ): Promise<{ status?: number; reset?: number; goaway?: number }> {
    const raw = await openRawH2(running.port(), pki.ca.cert);
    try {
      const block = headerBlock(fields);
      raw.send(frame(FRAME.HEADERS, FLAG.END_HEADERS | (data ? 0 : FLAG.END_STREAM), 1, block));
      if (data) raw.send(frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from(data.body)));
      await waitFor(
        () =>
          raw.received.some((f) => f.streamId === 1 && (f.type === FRAME.RST_STREAM || f.type === FRAME.HEADERS)) || raw.socket.destroyed,
        10_000,
        'an answer on stream 1',
      );
      const reset = raw.received.find((f) => f.streamId === 1 && f.type === FRAME.RST_STREAM);
      const goaway = raw.received.find((f) => f.type === FRAME.GOAWAY)?.errorCode;
      return reset
        ? { reset: reset.errorCode, goaway }
        : { status: raw.received.some((f) => f.streamId === 1 && f.type === FRAME.HEADERS) ? 1 : undefined, goaway };
    } finally {
      raw.socket.destroy();
    }
  }

  it.each([
    ['connection', 'keep-alive'],
    ['transfer-encoding', 'chunked'],
    ['upgrade', 'websocket'],
    ['te', 'gzip'],
  ])('never forwards a request carrying %s: %j', async (name, value) => {
    const before = web.requests.length;
    const answer = await answerTo([...requestHeaders(running.port(), `/smuggle-${name}`), [name, value]]);
    expect(answer.reset ?? answer.status).toBeDefined();
    expect(web.requests.slice(before).some((r) => r.url.startsWith('/smuggle'))).toBe(false);
    expect(await politeGet()).toBe(200);
  });

  it.each([
    ['CR LF', 'a\r\nInjected: yes'],
    ['NUL', 'a\u0000b'],
  ])('never lets a field value with %s reach a server', async (_what, value) => {
    const before = web.requests.length;
    await answerTo([...requestHeaders(running.port(), '/dirty'), ['x-dirty', value]]);
    // nghttp2 drops such a field (or the stream); either way no server sees it.
    for (const r of web.requests.slice(before)) {
      expect(r.headers['x-dirty']).toBeUndefined();
      expect(r.headers.injected).toBeUndefined();
    }
    expect(await politeGet()).toBe(200);
  });

  it('cuts off a stream whose DATA exceeds its content-length, forwarding no byte past it', async () => {
    const before = web.requests.length;
    const post = requestHeaders(running.port(), '/cl-mismatch').map(([n, v]) =>
      n === ':method' ? ([n, 'POST'] as const) : ([n, v] as const),
    );
    const answer = await answerTo([...post, ['content-length', '5']], { body: 'hello, and more' });
    // node:http2 on Node 20 resets the stream (PROTOCOL_ERROR); on 22 and later it closes
    // the whole connection (GOAWAY), as a bare node:http2 server does too.
    expect(answer.reset === NGHTTP2_PROTOCOL_ERROR || answer.goaway !== undefined).toBe(true);
    for (const r of web.requests.slice(before).filter((r) => r.url === '/cl-mismatch')) expect(r.body.length).toBeLessThanOrEqual(5);
    expect(await politeGet()).toBe(200);
  });
});

describe('HTTP/2 abuse', () => {
  it('closes a rapid-reset connection with GOAWAY ENHANCE_YOUR_CALM (CVE-2023-44487)', async () => {
    const raw = await openRawH2(running.port(), pki.ca.cert);
    const frames = [];
    for (let id = 1; id <= 399; id += 2) {
      frames.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, headerBlock(requestHeaders(running.port(), '/reset'))));
      frames.push(frame(FRAME.RST_STREAM, 0, id, Buffer.from([0, 0, 0, 8])));
    }
    raw.send(...frames);
    await within(raw.closed, 10_000, 'connection closed');
    expect(raw.received.find((f) => f.type === FRAME.GOAWAY)?.errorCode).toBe(NGHTTP2_ENHANCE_YOUR_CALM);
    expect(await metric('lb_http2_abuse_closes_total')).toContain('lb_http2_abuse_closes_total{frontend="https",reason="rapid-reset"} 1');
    await waitFor(() => running.logs.some((l) => l.msg === 'http2 connection closed for abuse'), 5000, 'abuse log line');
    expect(await politeGet()).toBe(200);
  });

  it('refuses streams past maxConcurrentStreams with RST_STREAM REFUSED_STREAM', async () => {
    const raw = await openRawH2(running.port(), pki.ca.cert);
    const frames = [];
    for (let id = 1; id <= 39; id += 2)
      frames.push(frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, id, headerBlock(requestHeaders(running.port(), '/hold'))));
    raw.send(...frames);
    await waitFor(() => raw.received.filter((f) => f.type === FRAME.RST_STREAM).length >= 10, 10_000, 'refused streams');
    const refused = raw.received.filter((f) => f.type === FRAME.RST_STREAM);
    expect(refused.every((f) => f.errorCode === NGHTTP2_REFUSED_STREAM)).toBe(true);
    expect(refused).toHaveLength(10);
    await waitFor(() => held.length === 10, 10_000, 'ten requests at the server');
    expect(await politeGet()).toBe(200);
    for (const release of held.splice(0)) release();
    raw.socket.destroy();
  });

  it('ends a CONTINUATION flood without end of headers', async () => {
    const raw = await openRawH2(running.port(), pki.ca.cert);
    const filler = headerBlock(Array.from({ length: 100 }, (_, i) => [`x-filler-${i}`, 'y'.repeat(100)] as const));
    raw.send(frame(FRAME.HEADERS, 0, 1, headerBlock(requestHeaders(running.port()))));
    for (let i = 0; i < 200 && !raw.socket.destroyed; i += 1) raw.send(frame(FRAME.CONTINUATION, 0, 1, filler));
    await within(raw.closed, 10_000, 'connection closed');
    expect(raw.received.some((f) => f.type === FRAME.HEADERS)).toBe(false);
    expect(await politeGet()).toBe(200);
  });

  it('ends PING and SETTINGS floods', async () => {
    for (const type of [FRAME.PING, FRAME.SETTINGS]) {
      const raw = await openRawH2(running.port(), pki.ca.cert);
      raw.socket.pause();
      const flood = Array.from({ length: 20_000 }, () => frame(type, 0, 0, type === FRAME.PING ? Buffer.alloc(8) : Buffer.alloc(0)));
      raw.send(...flood);
      raw.socket.resume();
      await within(raw.closed, 10_000, `connection closed after a ${type === FRAME.PING ? 'PING' : 'SETTINGS'} flood`);
    }
    expect(await politeGet()).toBe(200);
  });

  it('refuses a header list larger than maxHeaderListSize and keeps serving', async () => {
    const raw = await openRawH2(running.port(), pki.ca.cert);
    const big = headerBlock([
      ...requestHeaders(running.port()),
      ...Array.from({ length: 80 }, (_, i) => [`x-big-${i}`, 'z'.repeat(1000)] as const),
    ]);
    // Split across CONTINUATION frames: a HEADERS frame may carry 16 KiB at most.
    const parts = [];
    for (let at = 0; at < big.length; at += 16_000) parts.push(big.subarray(at, at + 16_000));
    raw.send(
      ...parts.map((part, i) =>
        frame(
          i === 0 ? FRAME.HEADERS : FRAME.CONTINUATION,
          (i === 0 ? FLAG.END_STREAM : 0) | (i === parts.length - 1 ? FLAG.END_HEADERS : 0),
          1,
          part,
        ),
      ),
    );
    await waitFor(
      () => raw.socket.destroyed || raw.received.some((f) => f.streamId === 1 || f.type === FRAME.GOAWAY),
      10_000,
      'an answer to the big head',
    );
    // Never forwarded: the server saw no request with these headers.
    expect(web.requests.some((r) => r.headers['x-big-0'] !== undefined)).toBe(false);
    raw.socket.destroy();
    expect(await politeGet()).toBe(200);
  });

  it('closes an idle connection after timeouts.client with GOAWAY', async () => {
    const raw = await openRawH2(running.port(), pki.ca.cert);
    await within(raw.closed, 10_000, 'idle connection closed');
    expect(raw.received.some((f) => f.type === FRAME.GOAWAY)).toBe(true);
  });
});
