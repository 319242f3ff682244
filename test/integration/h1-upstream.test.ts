// Doorman's HTTP/1.1 Upstream against real node:http(s) servers and raw TCP servers on
// 127.0.0.1 port 0: framing both ways, keep-alive reuse, retries on a dead reused
// connection, malformed answers, timeouts, pinned TLS, upgrades, aborts, close/destroy.
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerConfig, TimeoutsConfig } from '../../src/config/types.js';
import type { LbError } from '../../src/errors.js';
import { spkiPin } from '../../src/tls/pin.js';
import { upstreamTlsOptions } from '../../src/tls/upstream.js';
import { createH1Upstream } from '../../src/upstream/h1-upstream.js';
import type { Upstream, UpstreamHandler, UpstreamRequest } from '../../src/upstream/upstream.js';
import { testPki } from '../helpers/pki.js';
import { once, waitFor, within } from '../helpers/wait.js';

const TIMEOUTS: TimeoutsConfig = { clientMs: 5000, serverMs: 5000, connectMs: 2000, queueMs: 1000, shutdownMs: 1000, graceMs: 0 };

interface Outcome {
  events: string[];
  status: number;
  reason: string;
  headers: string[];
  body: Buffer;
  trailers: readonly string[];
  error: LbError | null;
  socket: Duplex | null;
  bodySent: number;
}

interface Call {
  done: Promise<Outcome>;
  abort: (err?: Error) => void;
  outcome: Outcome;
}

/** Dispatches `request` and records every handler call; `slowReader` pauses after each chunk and resumes a turn later. */
function call(
  upstream: Upstream,
  request: Partial<UpstreamRequest>,
  options: { slowReader?: boolean; onData?: (o: Outcome) => void; resumeFirstAfter?: Promise<unknown>; chunkSizes?: number[] } = {},
): Call {
  const outcome: Outcome = {
    events: [],
    status: 0,
    reason: '',
    headers: [],
    body: Buffer.alloc(0),
    trailers: [],
    error: null,
    socket: null,
    bodySent: 0,
  };
  const chunks: Buffer[] = [];
  let abort: (err?: Error) => void = () => {};
  let resume: () => void = () => {};
  let settle!: () => void;
  const done = new Promise<Outcome>((resolve) => (settle = () => resolve(outcome)));
  const handler: UpstreamHandler = {
    onConnect(a) {
      outcome.events.push('connect');
      abort = a;
    },
    onBodySent(bytes) {
      outcome.bodySent += bytes;
    },
    onInterim(status, _reason, headers) {
      outcome.events.push(`interim ${status} ${headers.map(String).join(' ')}`.trim());
    },
    onResponse(status, reason, headers, r) {
      outcome.events.push('response');
      outcome.status = status;
      outcome.reason = reason;
      outcome.headers = headers.map(String);
      resume = r;
      return true;
    },
    onData(chunk) {
      chunks.push(Buffer.from(chunk));
      outcome.body = Buffer.concat(chunks);
      options.chunkSizes?.push(chunk.length);
      options.onData?.(outcome);
      if (options.resumeFirstAfter !== undefined && chunks.length === 1) {
        void options.resumeFirstAfter.then(() => resume());
        return false;
      }
      if (options.slowReader) {
        setImmediate(resume);
        return false;
      }
      return true;
    },
    onComplete(trailers) {
      outcome.events.push('complete');
      outcome.trailers = trailers;
      settle();
    },
    onUpgrade(status, headers, socket) {
      outcome.events.push('upgrade');
      outcome.status = status;
      outcome.headers = headers.map(String);
      outcome.socket = socket;
      settle();
    },
    onError(err) {
      outcome.events.push('error');
      outcome.error = err;
      settle();
    },
  };
  upstream.dispatch({ method: 'GET', path: '/', headers: ['host', 'example'], body: null, upgrade: null, ...request }, handler);
  return { done: within(done, 15_000, 'the end of the request'), abort: (err) => abort(err), outcome };
}

function serverConfig(port: number, extra: Partial<ServerConfig> = {}): ServerConfig {
  return {
    name: 's1',
    address: { host: '127.0.0.1', port },
    tls: null,
    maxconn: 0,
    weight: 1,
    cookie: 's1',
    protocol: 'http1',
    proxyProtocol: null,
    ...extra,
  };
}

interface Running {
  port: number;
  connections: Socket[];
  close(): Promise<void>;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function listen(server: net.Server): Promise<Running> {
  const connections: Socket[] = [];
  server.on(server instanceof https.Server ? 'secureConnection' : 'connection', (s: Socket) => connections.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const running: Running = {
    port: (server.address() as AddressInfo).port,
    connections,
    close: async () => {
      for (const s of connections) s.destroy();
      (server as http.Server).closeAllConnections?.();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  cleanups.push(running.close);
  return running;
}

async function httpServer(handler: http.RequestListener): Promise<Running> {
  return listen(http.createServer(handler));
}

/** A raw TCP server: `onRequest` gets the socket once a request head arrived (each time). */
async function rawServer(onRequest: (socket: Socket, head: string) => void): Promise<Running> {
  return listen(
    net.createServer((socket) => {
      let buffered = '';
      socket.on('data', (chunk) => {
        buffered += chunk.toString('latin1');
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        onRequest(socket, head);
      });
      socket.on('error', () => {});
    }),
  );
}

function upstreamTo(
  port: number,
  extra: Partial<ServerConfig> = {},
  timeouts: TimeoutsConfig = TIMEOUTS,
  tls: Parameters<typeof createH1Upstream>[2] = null,
): Upstream {
  const upstream = createH1Upstream(serverConfig(port, extra), timeouts, tls);
  cleanups.push(() => upstream.destroy());
  return upstream;
}

function header(o: Outcome, name: string): string | undefined {
  for (let i = 0; i < o.headers.length; i += 2) if (o.headers[i]!.toLowerCase() === name) return o.headers[i + 1];
  return undefined;
}

describe('H1 upstream: requests and responses', () => {
  it('GET: status, reason, headers and body; the connection is reused', async () => {
    const server = await httpServer((req, res) => {
      res.writeHead(200, 'Fine', { 'x-path': req.url!, 'content-type': 'text/plain' });
      res.end(`hello ${req.headers.host}`);
    });
    const upstream = upstreamTo(server.port);
    for (let i = 0; i < 3; i++) {
      const o = await call(upstream, { path: `/p${i}?q=1` }).done;
      expect(o.events).toEqual(['connect', 'response', 'complete']);
      expect([o.status, o.reason, header(o, 'x-path'), o.body.toString()]).toEqual([200, 'Fine', `/p${i}?q=1`, 'hello example']);
    }
    expect(server.connections.length).toBe(1);
  });

  it('adds Host when the request has none', async () => {
    const server = await httpServer((req, res) => res.end(req.headers.host));
    const o = await call(upstreamTo(server.port), { headers: [] }).done;
    expect(o.body.toString()).toBe(`127.0.0.1:${server.port}`);
  });

  it.each([
    ['HEAD', 200],
    ['GET', 204],
    ['GET', 304],
  ])('%s answered %i has no body and keeps the connection', async (method, status) => {
    const server = await httpServer((_req, res) => {
      res.writeHead(status, { 'content-length': '5' });
      res.end(method === 'HEAD' || status !== 200 ? undefined : 'hello');
    });
    const upstream = upstreamTo(server.port);
    for (let i = 0; i < 2; i++) {
      const o = await call(upstream, { method }).done;
      expect([o.status, o.body.length, o.events.at(-1)]).toEqual([status, 0, 'complete']);
    }
    expect(server.connections.length).toBe(1);
  });

  it('POST with Content-Length sends the bytes as they are, never more than announced', async () => {
    const seen: { te?: string; cl?: string; body: string }[] = [];
    const server = await httpServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ te: req.headers['transfer-encoding'], cl: req.headers['content-length'], body });
        res.end('ok');
      });
    });
    const upstream = upstreamTo(server.port);
    const o = await call(upstream, {
      method: 'POST',
      headers: ['host', 'x', 'content-length', '11'],
      body: Readable.from([Buffer.from('hello '), Buffer.from('world!!!')]),
    }).done;
    expect([o.status, o.body.toString(), o.bodySent]).toEqual([200, 'ok', 11]);
    expect(seen).toEqual([{ te: undefined, cl: '11', body: 'hello world' }]);
  });

  it('POST with a streamed body and no Content-Length goes chunked', async () => {
    let seen: { te?: string; body: string } | undefined;
    const server = await httpServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen = { te: req.headers['transfer-encoding'], body };
        res.end('ok');
      });
    });
    const upstream = upstreamTo(server.port);
    const o = await call(upstream, { method: 'POST', body: Readable.from([Buffer.from('a'), Buffer.from('bc'), Buffer.from('')]) }).done;
    expect([o.status, o.bodySent]).toEqual([200, 3]);
    expect(seen).toEqual({ te: 'chunked', body: 'abc' });
    // The connection is clean afterwards: a second request on it works.
    expect((await call(upstream, {}).done).status).toBe(200);
    expect(server.connections.length).toBe(1);
  });

  it('decodes a chunked response and hands its trailers on', async () => {
    const server = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write('hello ');
      res.write('chunked ');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end('world');
    });
    const upstream = upstreamTo(server.port);
    const o = await call(upstream, {}).done;
    expect(o.body.toString()).toBe('hello chunked world');
    expect(o.trailers).toEqual(['x-checksum', 'abc123']);
    expect((await call(upstream, {}).done).status).toBe(200);
    expect(server.connections.length).toBe(1);
  });

  it('passes 1xx heads on as interim responses, then the final one', async () => {
    const server = await rawServer((socket) => {
      socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n');
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const o = await call(upstreamTo(server.port), {}).done;
    expect([o.events, o.status, o.body.toString()]).toEqual([
      ['connect', 'interim 100', 'interim 103 Link </a.css>', 'response', 'complete'],
      200,
      'ok',
    ]);
  });

  it('parses a head that arrives a byte at a time', async () => {
    const response = 'HTTP/1.1 200 OK\r\nX-A: 1\r\nContent-Length: 3\r\n\r\nabc';
    const server = await rawServer((socket) => {
      let i = 0;
      const next = () => {
        if (i >= response.length) return;
        socket.write(response[i++]!, () => setImmediate(next));
      };
      next();
    });
    const o = await call(upstreamTo(server.port), {}).done;
    expect([o.status, header(o, 'x-a'), o.body.toString()]).toEqual([200, '1', 'abc']);
  });

  it('carries 1 MiB both ways with backpressure (a slow reader and a slow server)', async () => {
    const size = 1 << 20;
    const payload = Buffer.alloc(size, 7);
    let received = 0;
    const server = await httpServer((req, res) => {
      req.pause();
      // The server reads late: the request body waits on drain meanwhile.
      setTimeout(() => {
        req.on('data', (c: Buffer) => (received += c.length));
        req.on('end', () => {
          res.writeHead(200, { 'content-length': String(size) });
          res.end(payload);
        });
        req.resume();
      }, 50);
    });
    const upstream = upstreamTo(server.port);
    const body = Readable.from(
      (function* () {
        for (let i = 0; i < 64; i++) yield Buffer.alloc(size / 64, 1);
      })(),
    );
    const o = await call(upstream, { method: 'PUT', body }, { slowReader: true }).done;
    expect([o.status, o.bodySent, received, o.body.length, o.body.equals(payload)]).toEqual([200, size, size, size, true]);
  });
});

describe('H1 upstream: backpressure', () => {
  it('passes what arrived while paused on in one piece on resume', async () => {
    const piece = Buffer.alloc(16 * 1024, 'b');
    let allSent!: () => void;
    const sent4 = new Promise<void>((resolve) => (allSent = resolve));
    const server = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${1 + 4 * piece.length}\r\n\r\na`);
      // The rest in four writes the reader, paused after its first chunk, does not take yet.
      let sent = 0;
      const timer = setInterval(() => {
        if (++sent < 4) socket.write(piece);
        else {
          clearInterval(timer);
          socket.write(piece, () => setTimeout(allSent, 50)); // then read into the paused socket
        }
      }, 15);
    });
    const chunkSizes: number[] = [];
    const o = await call(upstreamTo(server.port), {}, { resumeFirstAfter: sent4, chunkSizes }).done;
    expect([o.status, o.body.length, chunkSizes]).toEqual([200, 1 + 4 * piece.length, [1, 4 * piece.length]]);
  });
});

describe('H1 upstream: connection reuse', () => {
  it('does not reuse a connection after Connection: close, nor after HTTP/1.0 without keep-alive', async () => {
    let n = 0;
    const server = await rawServer((socket) => {
      socket.write(
        n++ % 2 === 0
          ? 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na'
          : 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nb',
      );
    });
    const upstream = upstreamTo(server.port);
    for (let i = 0; i < 4; i++) expect((await call(upstream, {}).done).status).toBe(200);
    expect(server.connections.length).toBe(4);
  });

  it('reads an until-close body and drops the connection', async () => {
    const server = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\n\r\nall of it'));
    const upstream = upstreamTo(server.port);
    const o = await call(upstream, {}).done;
    expect([o.status, o.body.toString(), o.events.at(-1)]).toEqual([200, 'all of it', 'complete']);
  });

  it('never uses an idle connection the server closed', async () => {
    const server = await httpServer((_req, res) => res.end('ok'));
    const upstream = upstreamTo(server.port) as Upstream & { pool: { idleCount: number } };
    expect((await call(upstream, {}).done).status).toBe(200);
    expect(upstream.pool.idleCount).toBe(1);
    for (const s of server.connections) s.end();
    await waitFor(() => upstream.pool.idleCount === 0, 5000, 'the idle connection dropped');
    const o = await call(upstream, {}).done;
    expect(o.status).toBe(200);
    expect(server.connections.length).toBe(2);
  });

  it('closes idle connections after the server’s Keep-Alive timeout less a margin', async () => {
    const server = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 0\r\n\r\n'));
    const upstream = upstreamTo(server.port) as Upstream & { pool: { size: number } };
    expect((await call(upstream, {}).done).status).toBe(200);
    // timeout=1 s less the 1 s margin: not kept at all.
    await waitFor(() => upstream.pool.size === 0, 5000, 'the connection closed');
  });

  it('keeps each idle connection until its own deadline, the earliest first', async () => {
    // The first connection's server allows 2 s (kept 1 s), the second's 3 s (kept 2 s).
    let n = 0;
    const server = await rawServer((socket) => {
      const timeout = n++ === 0 ? 2 : 3;
      setTimeout(() => socket.write(`HTTP/1.1 200 OK\r\nKeep-Alive: timeout=${timeout}\r\nContent-Length: 0\r\n\r\n`), 20);
    });
    const upstream = upstreamTo(server.port) as Upstream & { pool: { size: number; idleCount: number } };
    const first = call(upstream, {});
    const second = call(upstream, {});
    expect([(await first.done).status, (await second.done).status]).toEqual([200, 200]);
    const released = performance.now();
    expect(upstream.pool.idleCount).toBe(2);
    await waitFor(() => upstream.pool.idleCount === 1, 5000, 'the first deadline');
    const firstGone = performance.now() - released;
    await waitFor(() => upstream.pool.idleCount === 0, 5000, 'the second deadline');
    const secondGone = performance.now() - released;
    expect(firstGone).toBeGreaterThanOrEqual(900);
    expect(secondGone).toBeGreaterThanOrEqual(1900);
    await waitFor(() => upstream.pool.size === 0, 5000, 'both closed');
  });

  it('never reuses an idle connection past its deadline, even when the expiry timer has not run yet', async () => {
    const server = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nContent-Length: 0\r\n\r\n'));
    const upstream = upstreamTo(server.port) as Upstream & { pool: { idleCount: number } };
    expect((await call(upstream, {}).done).status).toBe(200);
    expect(upstream.pool.idleCount).toBe(1);
    // A stalled event loop: the 1 s idle deadline passes while no timer can fire.
    const until = performance.now() + 1100;
    while (performance.now() < until);
    const o = await call(upstream, {}).done;
    expect(o.status).toBe(200);
    expect(server.connections.length).toBe(2);
  });

  it('retries once on a fresh connection when a reused one dies before answering (nothing of the body sent)', async () => {
    let n = 0;
    const server = await rawServer((socket) => {
      // The second request on the first connection gets the connection cut.
      if (n++ === 1) socket.destroy();
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const upstream = upstreamTo(server.port);
    expect((await call(upstream, {}).done).status).toBe(200);
    const o = await call(upstream, {}).done;
    expect([o.events, o.status]).toEqual([['connect', 'response', 'complete'], 200]);
    expect(server.connections.length).toBe(2);
  });

  it('reports LB_ERR_UPSTREAM_CLOSED when the fresh connection dies too, or the body had started', async () => {
    let n = 0;
    const server = await rawServer((socket) => {
      if (n++ === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else socket.destroy();
    });
    const upstream = upstreamTo(server.port);
    expect((await call(upstream, {}).done).status).toBe(200);
    const o = await call(upstream, {}).done;
    expect(o.error?.code).toBe('LB_ERR_UPSTREAM_CLOSED');
    // The first connection, then one fresh one: a single retry.
    expect(server.connections.length).toBe(2);
  });

  it('does not retry when the reused connection dies after body bytes were sent', async () => {
    let n = 0;
    const server = await rawServer((socket) => {
      if (n++ === 0) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      else socket.destroy();
    });
    const upstream = upstreamTo(server.port);
    expect((await call(upstream, {}).done).status).toBe(200);
    const body = new Readable({ read() {} });
    body.push('hello');
    const o = await call(upstream, { method: 'POST', headers: ['host', 'x', 'content-length', '10'], body }).done;
    expect([o.events, o.error?.code, o.bodySent]).toEqual([['connect', 'error'], 'LB_ERR_UPSTREAM_CLOSED', 5]);
    expect(server.connections.length).toBe(1);
    body.destroy();
  });

  it('bounds connections by maxconn: requests wait for a free one', async () => {
    const server = await httpServer((_req, res) => setTimeout(() => res.end('ok'), 20));
    const upstream = upstreamTo(server.port, { maxconn: 2 });
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => call(upstream, {}).done));
    expect(outcomes.map((o) => o.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(server.connections.length).toBe(2);
  });
});

describe('H1 upstream: failures', () => {
  it.each([
    [
      'Transfer-Encoding with Content-Length',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      'protocol: te-and-cl',
    ],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', 'protocol: bad-chunk-size'],
    ['an oversized head', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\n\r\n`, 'protocol: head-too-large'],
    ['a bad status line', 'HTTP/1.1 2000 OK\r\n\r\n', 'protocol: bad-status'],
    ['an unasked 101', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n', 'protocol: unexpected 101'],
  ])('%s: LB_ERR_BAD_RESPONSE and the connection destroyed', async (_name, response, reason) => {
    const server = await rawServer((socket) => socket.write(response));
    const upstream = upstreamTo(server.port) as Upstream & { pool: { size: number } };
    const o = await call(upstream, {}).done;
    expect([o.error?.code, o.error?.message]).toEqual(['LB_ERR_BAD_RESPONSE', reason]);
    await waitFor(() => upstream.pool.size === 0, 5000, 'the connection gone');
  });

  it('a silent server: LB_ERR_UPSTREAM_TIMEOUT after timeouts.server', async () => {
    const server = await rawServer(() => {});
    const o = await call(upstreamTo(server.port, {}, { ...TIMEOUTS, serverMs: 200 }), {}).done;
    expect([o.events, o.error?.code, o.error?.message]).toEqual([['connect', 'error'], 'LB_ERR_UPSTREAM_TIMEOUT', 'server: timeout']);
  });

  it('a server that stalls mid-body: LB_ERR_UPSTREAM_TIMEOUT after the response started', async () => {
    const server = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    const o = await call(upstreamTo(server.port, {}, { ...TIMEOUTS, serverMs: 200 }), {}).done;
    expect([o.events, o.error?.code, o.body.toString()]).toEqual([['connect', 'response', 'error'], 'LB_ERR_UPSTREAM_TIMEOUT', 'abc']);
  });

  it('a server that closes mid-body: LB_ERR_UPSTREAM_CLOSED', async () => {
    const server = await rawServer((socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    const o = await call(upstreamTo(server.port), {}).done;
    expect([o.events, o.error?.code]).toEqual([['connect', 'response', 'error'], 'LB_ERR_UPSTREAM_CLOSED']);
  });

  it('connect refused: LB_ERR_CONNECT, onConnect never called', async () => {
    const server = await rawServer(() => {});
    const port = server.port;
    await server.close();
    const o = await call(upstreamTo(port), {}).done;
    expect([o.events, o.error?.code, o.error?.message]).toEqual([['error'], 'LB_ERR_CONNECT', 'connect: ECONNREFUSED']);
  });

  it('connect timeout: LB_ERR_CONNECT_TIMEOUT', async () => {
    // A TLS server that never answers the handshake: TCP connects, TLS never finishes.
    const server = await rawServer(() => {});
    const pki = testPki();
    const cert = pki.issue('web1');
    const tls = upstreamTlsOptions(
      serverConfig(server.port, { tls: { ca: null, pins: [], servername: 'web1' } }),
      Buffer.from(pki.ca.cert),
    )!;
    const o = await call(upstreamTo(server.port, {}, { ...TIMEOUTS, connectMs: 150 }, tls), {}).done;
    expect(cert.cert).toContain('BEGIN');
    expect([o.events, o.error?.code, o.error?.message]).toEqual([['error'], 'LB_ERR_CONNECT_TIMEOUT', 'connect: timeout']);
  });
});

describe('H1 upstream: TLS', () => {
  const pki = testPki();
  const good = pki.issue('web1', ['web1']);
  const other = pki.issue('web1', ['web1']);

  async function tlsServer(seen: string[]): Promise<Running> {
    return listen(
      https.createServer({ cert: good.cert, key: good.key }, (req, res) => {
        seen.push(req.url!);
        res.end('secure');
      }),
    );
  }

  function tlsUpstream(port: number, servername: string, pins: string[]): Upstream {
    const config = serverConfig(port, { tls: { ca: null, pins, servername } });
    return upstreamTo(port, config, TIMEOUTS, upstreamTlsOptions(config, Buffer.from(pki.ca.cert)));
  }

  it('speaks to a server with the right CA, name and pin', async () => {
    const seen: string[] = [];
    const server = await tlsServer(seen);
    const o = await call(tlsUpstream(server.port, 'web1', [spkiPin(good.cert)]), { path: '/s' }).done;
    expect([o.status, o.body.toString(), seen]).toEqual([200, 'secure', ['/s']]);
  });

  it('resumes the TLS session on a new connection', async () => {
    const tlsServer = https.createServer({ cert: good.cert, key: good.key }, (_req, res) => {
      res.setHeader('connection', 'close');
      res.end('secure');
    });
    const reused: boolean[] = [];
    tlsServer.on('secureConnection', (s: import('node:tls').TLSSocket) => reused.push(s.isSessionReused()));
    const server = await listen(tlsServer);
    const upstream = tlsUpstream(server.port, 'web1', [spkiPin(good.cert)]);
    for (let i = 0; i < 3; i++) expect((await call(upstream, {}).done).status).toBe(200);
    expect(server.connections.length).toBe(3);
    expect(reused).toEqual([false, true, true]);
  });

  it.each([
    ['a wrong pin', 'web1', () => [spkiPin(other.cert)], 'tls: pin mismatch'],
    ['a wrong name', 'web9', () => [], 'tls: ERR_TLS_CERT_ALTNAME_INVALID'],
  ])('%s: LB_ERR_UPSTREAM_TLS and the request never sent', async (_name, servername, pins, reason) => {
    const seen: string[] = [];
    const server = await tlsServer(seen);
    const o = await call(tlsUpstream(server.port, servername, pins()), {}).done;
    expect([o.events, o.error?.code, o.error?.message, seen]).toEqual([['error'], 'LB_ERR_UPSTREAM_TLS', reason, []]);
  });
});

describe('H1 upstream: upgrades, aborts and shutdown', () => {
  it('hands the socket over on a 101, with the bytes read past the head', async () => {
    const server = await rawServer((socket, head) => {
      expect(head.toLowerCase()).toContain('upgrade: websocket');
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nearly');
      socket.on('data', (c: Buffer) => socket.write(`echo:${c.toString()}`));
    });
    const upstream = upstreamTo(server.port) as Upstream & { pool: { size: number } };
    const o = await call(upstream, { upgrade: 'websocket' }).done;
    expect([o.events, o.status]).toEqual([['connect', 'upgrade'], 101]);
    expect(upstream.pool.size).toBe(0);
    const socket = o.socket!;
    let got = '';
    // Handed over paused, as a pipe expects it.
    socket.on('data', (c: Buffer) => (got += c.toString()));
    socket.resume();
    await waitFor(() => got === 'early', 5000, 'the early bytes');
    socket.write('hi');
    await waitFor(() => got === 'earlyecho:hi', 5000, 'the echo');
    socket.destroy();
  });

  it('abort mid-response destroys the connection and ends with one onError', async () => {
    const server = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc'));
    const upstream = upstreamTo(server.port) as Upstream & { pool: { size: number } };
    const c: Call = call(upstream, {}, { onData: () => c.abort(new Error('client aborted')) });
    const o = await c.done;
    expect(o.events).toEqual(['connect', 'response', 'error']);
    c.abort(new Error('again'));
    await waitFor(() => upstream.pool.size === 0, 5000, 'the connection gone');
    expect(o.events).toEqual(['connect', 'response', 'error']);
  });

  it('recycle closes idle connections now and busy ones when their response ends', async () => {
    let release!: () => void;
    const server = await httpServer((req, res) => {
      if (req.url === '/slow') release = () => res.end('slow');
      else res.end('ok');
    });
    const upstream = upstreamTo(server.port) as Upstream & { pool: { size: number; idleCount: number } };
    await call(upstream, {}).done;
    const slow = call(upstream, { path: '/slow' });
    await waitFor(() => release !== undefined, 5000, 'the slow request');
    expect(upstream.pool.size).toBe(1);
    await call(upstream, {}).done;
    expect(upstream.pool.idleCount).toBe(1);
    upstream.recycle();
    await waitFor(() => upstream.pool.size === 1, 5000, 'the idle one closed');
    release();
    expect((await slow.done).body.toString()).toBe('slow');
    await waitFor(() => upstream.pool.size === 0, 5000, 'the busy one closed');
    expect((await call(upstream, {}).done).status).toBe(200);
  });

  it('close lets the request in flight finish, then resolves', async () => {
    let release!: () => void;
    const server = await httpServer((_req, res) => (release = () => res.end('done')));
    const upstream = upstreamTo(server.port);
    const c = call(upstream, {});
    await waitFor(() => release !== undefined, 5000, 'the request');
    let closed = false;
    const closing = upstream.close().then(() => (closed = true));
    expect(closed).toBe(false);
    release();
    expect((await c.done).body.toString()).toBe('done');
    await within(closing, 5000, 'close');
    const after = await call(upstream, {}).done;
    expect(after.error?.code).toBe('LB_ERR_UPSTREAM_CLOSED');
  });

  it('destroy fails the request in flight', async () => {
    const server = await rawServer(() => {});
    const upstream = upstreamTo(server.port);
    const c = call(upstream, {});
    await waitFor(() => c.outcome.events.includes('connect'), 5000, 'connected');
    await within(upstream.destroy(), 5000, 'destroy');
    const o = await c.done;
    expect([o.events, o.error?.code]).toEqual([['connect', 'error'], 'LB_ERR_UPSTREAM_CLOSED']);
  });
});
