#!/usr/bin/env node
// The node-floor process: `node node-floor-server.js CONFIG_JSON`. The least a Node proxy
// can do per request on the stack Doorman is built on (node:tls, node:http2), to show how
// much of Doorman's cost is Node's own. One TLS port with ALPN h2 and http/1.1; each
// request goes round-robin to a kept-alive, CA-verified TLS connection to a server, its
// head passed through with X-Forwarded-For added; answers parsed only as far as
// Content-Length framing needs. Nothing else: no chunked bodies, no validation, no
// cookie, no checks, no timeouts, no log, no backpressure, no error pages (an upstream
// failure drops the client). A measuring stick, not a proxy anyone should run.
// Prints {"port":N} once listening on 127.0.0.1:0.
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import tls from 'node:tls';
import { FRONTEND_CIPHERS } from '../../dist/tls/frontend.js';
import { serveAndAnnounce } from '../lib/child-server.js';

const config = JSON.parse(process.argv[2]);
const ca = readFileSync(config.ca);
const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length:[ \t]*(\d+)/i;
const CONNECTION_CLOSE = /\r\nconnection:[ \t]*close/i;
/** Connection is hop-by-hop: the client's `close` must not close the pooled server connection. */
const CONNECTION_FIELD = /\r\nconnection:[^\r]*/gi;

/**
 * A kept-alive TLS connection to one server carrying one exchange at a time. `send`
 * writes a request; the answer comes back as onHead(head bytes incl. CRLFCRLF, content
 * length), onBody(chunk)…, onEnd().
 */
class UpstreamConnection {
  constructor(server, pool) {
    this.pool = pool;
    this.exchange = null;
    this.buffered = null;
    this.remaining = -1;
    this.socket = tls.connect({ host: '127.0.0.1', port: server.port, servername: server.servername, ca });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk) => this.onData(chunk));
    this.socket.on('error', () => {});
    this.socket.on('close', () => {
      this.exchange?.onAbort();
      this.exchange = null;
      pool.forget(this);
    });
  }

  send(request, exchange) {
    this.exchange = exchange;
    this.socket.write(request);
  }

  onData(chunk) {
    if (this.remaining < 0) {
      const data = this.buffered ? Buffer.concat([this.buffered, chunk]) : chunk;
      const end = data.indexOf(HEAD_END);
      if (end < 0) {
        this.buffered = data;
        return;
      }
      this.buffered = null;
      const head = data.subarray(0, end + 4);
      this.remaining = Number(CONTENT_LENGTH.exec(head.latin1Slice())?.[1] ?? 0);
      this.exchange.onHead(head, this.remaining);
      chunk = data.subarray(end + 4);
    }
    if (chunk.length > 0) {
      this.remaining -= chunk.length;
      this.exchange.onBody(chunk);
    }
    if (this.remaining <= 0) {
      const exchange = this.exchange;
      this.exchange = null;
      this.remaining = -1;
      this.pool.release(this);
      exchange.onEnd();
    }
  }
}

/** Idle connections per server, servers taken round-robin. */
class Pool {
  constructor(servers) {
    this.servers = servers.map((s) => ({ ...s, idle: [] }));
    this.next = 0;
  }

  send(request, exchange) {
    const server = this.servers[this.next];
    this.next = (this.next + 1) % this.servers.length;
    const connection = server.idle.pop() ?? new UpstreamConnection(server, this);
    connection.server = server;
    connection.send(request, exchange);
    return connection;
  }

  release(connection) {
    connection.server.idle.push(connection);
  }

  forget(connection) {
    const idle = connection.server?.idle;
    const at = idle ? idle.indexOf(connection) : -1;
    if (at >= 0) idle.splice(at, 1);
  }
}

const pool = new Pool(config.servers);

/** An HTTP/1.1 client connection: one request at a time, bodies by Content-Length only. */
function serveHttp1(socket) {
  let buffered = null;
  let bodyLeft = 0;
  let upstream = null;
  let busy = false;
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.on('data', (chunk) => {
    if (bodyLeft > 0) {
      // Request body bytes go straight on to the server.
      const body = chunk.subarray(0, bodyLeft);
      bodyLeft -= body.length;
      upstream.socket.write(body);
      chunk = chunk.subarray(body.length);
      if (chunk.length === 0) return;
    }
    buffered = buffered ? Buffer.concat([buffered, chunk]) : chunk;
    if (!busy) next();
  });

  function next() {
    const end = buffered?.indexOf(HEAD_END) ?? -1;
    if (end < 0) return;
    busy = true;
    const head = buffered.latin1Slice(0, end);
    const rest = buffered.subarray(end + 4);
    buffered = null;
    const close = CONNECTION_CLOSE.test(head);
    bodyLeft = Number(CONTENT_LENGTH.exec(head)?.[1] ?? 0);
    let heldHead = null;
    upstream = pool.send(
      Buffer.from(`${head.replace(CONNECTION_FIELD, '')}\r\nx-forwarded-for: ${socket.remoteAddress}\r\n\r\n`, 'latin1'),
      {
        onHead(responseHead, length) {
          // The head waits for the first body bytes so a small answer leaves in one write.
          if (length === 0) socket.write(responseHead);
          else heldHead = responseHead;
        },
        onBody(bytes) {
          socket.write(heldHead ? Buffer.concat([heldHead, bytes]) : bytes);
          heldHead = null;
        },
        onEnd() {
          busy = false;
          if (close) socket.end();
          else if (buffered) next();
        },
        onAbort: () => socket.destroy(),
      },
    );
    if (rest.length > 0) {
      const body = rest.subarray(0, bodyLeft);
      bodyLeft -= body.length;
      if (body.length > 0) upstream.socket.write(body);
      if (rest.length > body.length) buffered = rest.subarray(body.length);
    }
  }
}

/** An HTTP/2 stream: its request as an HTTP/1.1 head, the answer as HEADERS + DATA. */
function serveStream(stream, headers) {
  const length = headers['content-length'];
  const request =
    `${headers[':method']} ${headers[':path']} HTTP/1.1\r\nhost: ${headers[':authority']}\r\n` +
    `${length === undefined ? '' : `content-length: ${length}\r\n`}x-forwarded-for: ${stream.session.socket.remoteAddress}\r\n\r\n`;
  // A body that arrives with its head (most do) leaves with it: respond + end(body), the
  // fewest calls node:http2 allows; a longer one streams after its first chunk.
  let head = null;
  const upstream = pool.send(Buffer.from(request, 'latin1'), {
    onHead(bytes, contentLength) {
      head = { ':status': Number(bytes.latin1Slice(9, 12)), 'content-length': String(contentLength) };
    },
    onBody(chunk) {
      if (stream.destroyed) return;
      if (head) stream.respond(head);
      head = null;
      if (upstream.remaining > 0) stream.write(chunk);
      else stream.end(chunk);
    },
    onEnd() {
      if (stream.destroyed || stream.writableEnded) return;
      if (head) stream.respond(head, { endStream: true });
      else stream.end();
    },
    onAbort: () => stream.destroy(),
  });
  if (length !== undefined) stream.on('data', (chunk) => upstream.socket.write(chunk));
}

const h2 = http2.createServer().on('stream', serveStream);
// Doorman's TLS choices (src/tls/frontend.ts), so the comparison is about proxy logic only.
const TLS_CHOICES = { ciphers: FRONTEND_CIPHERS, honorCipherOrder: true, ecdhCurve: 'X25519:P-256:P-384' };
const server = tls.createServer(
  { cert: readFileSync(config.cert), key: readFileSync(config.key), ALPNProtocols: ['h2', 'http/1.1'], ...TLS_CHOICES },
  (socket) => {
    if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
    else serveHttp1(socket);
  },
);
serveAndAnnounce(server);
