// One request on HTTP/1.1 connections of a pool: the head and body written (chunked or
// as announced, with backpressure), the response head parsed as it arrives (1xx
// relayed), the body decoded to payload for the handler, the connection handed back the
// moment the response's last byte arrived. A reused connection that dies before any
// answer, with nothing of the body sent, is replaced once by a fresh one.
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { LbError, type UpstreamError } from '../errors.js';
import { bodyKind, type BodyKind } from '../h1/body-kind.js';
import { ChunkedDecoder } from '../h1/chunked-decoder.js';
import { wantsKeepAlive } from '../h1/head.js';
import { parseResponseHead, type ResponseHead } from '../h1/response-head.js';
import { lastChunkWith } from '../h1/trailer-fields.js';
import { classifyUpstreamError } from './classify.js';
import type { H1Connection } from './h1-connection.js';
import { DEFAULT_IDLE_MS, KEEP_ALIVE_MARGIN_MS, type H1Pool, type PoolUser } from './h1-pool.js';
import type { UpstreamRequestHead } from './h1-request-head.js';
import type { UpstreamHandler, UpstreamRequest } from './upstream.js';

const CRLF = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const KEEP_ALIVE_TIMEOUT = /(?:^|[\s,;])timeout\s*=\s*(\d+)/i;

// Where the attempt is.
/** Waiting for a connection (or for a reused one's check). */
const PENDING = 0;
/** The request is being written or was; no response head yet. */
const HEAD = 1;
/** The final head was passed on; the body streams. */
const BODY = 2;
/** Ended: onComplete, onUpgrade or onError was called. */
const ENDED = 3;

/** Sends the request on a reused connection after one event-loop turn, so a FIN that already arrived is seen first. */
function sendOnCheckedConnection(attempt: H1Attempt): void {
  attempt.sendIfUsable();
}

export class H1Attempt implements PoolUser {
  readonly #pool: H1Pool;
  readonly #request: UpstreamRequest;
  readonly #handler: UpstreamHandler;
  readonly #head: UpstreamRequestHead;
  readonly #serverMs: number;
  #conn: H1Connection | null = null;
  #state = PENDING;
  #reused = false;
  /** Why the reused connection failed, once the request moved to a fresh one (it moves once). */
  #retryCause: UpstreamError | null = null;
  #connectReported = false;
  /** Request body bytes written (payload, framing excluded). */
  #bodySent = 0;
  #bodyAttached = false;
  #errorListening = false;
  #requestWritten = false;
  #gotBytes = false;
  /** A head received in part, kept until the rest arrives. */
  #partial: Buffer | null = null;
  #kind: BodyKind = 'none';
  #remaining = 0;
  #decoder: ChunkedDecoder | null = null;
  #keepAlive = false;
  #idleMs = DEFAULT_IDLE_MS;
  #paused = false;

  readonly #abort = (err?: Error): void => {
    if (this.#state === ENDED) return;
    this.#fail(classifyUpstreamError(err ?? new Error('aborted')));
  };

  readonly #resume = (): void => {
    if (this.#state !== BODY || !this.#paused) return;
    this.#paused = false;
    const socket = this.#conn!.socket;
    socket.setTimeout(this.#serverMs);
    // What arrived while paused goes on in one piece (read() emits it as 'data'), not
    // record by record: one downstream write, one backpressure round, instead of one per
    // 16 KiB TLS record.
    if (socket.readableLength > 0) {
      socket.read();
      if (!this.#readingFrom(socket)) return;
    }
    socket.resume();
  };

  /** False once the 'data' that read() emitted paused this attempt again, ended it or detached its socket. */
  #readingFrom(socket: Socket): boolean {
    return !this.#paused && this.#conn !== null && this.#conn.socket === socket;
  }

  #onBodyData: ((chunk: Buffer) => void) | null = null;
  #onBodyEnd: (() => void) | null = null;
  #onBodyError: ((err: Error) => void) | null = null;

  readonly preface: Buffer | null;

  constructor(
    pool: H1Pool,
    request: UpstreamRequest,
    handler: UpstreamHandler,
    head: UpstreamRequestHead,
    serverMs: number,
    preface: Buffer | null = null,
  ) {
    this.#pool = pool;
    this.preface = preface;
    this.#request = request;
    this.#handler = handler;
    this.#head = head;
    this.#serverMs = serverMs;
  }

  // ---- the pool's side ----------------------------------------------------------

  start(conn: H1Connection, reused: boolean): void {
    this.#conn = conn;
    this.#reused = reused;
    if (!reused) return; // onConnected follows
    if (this.#request.body !== null) setImmediate(sendOnCheckedConnection, this);
    else this.#send();
  }

  /** After the check turn: sends, or takes another connection when this one died meanwhile. */
  sendIfUsable(): void {
    if (this.#state !== PENDING || this.#conn === null) return;
    if (this.#conn.usable()) {
      this.#send();
      return;
    }
    const conn = this.#conn;
    this.#conn = null;
    conn.user = null;
    conn.socket.destroy();
    this.#pool.acquire(this);
  }

  onConnected(): void {
    if (this.#state === PENDING) this.#send();
  }

  onSocketData(chunk: Buffer): void {
    if (this.#state === HEAD) this.#onHeadBytes(chunk);
    else if (this.#state === BODY) this.#onBodyBytes(chunk, 0);
    else this.#conn?.socket.destroy(); // bytes before the request went out
  }

  onSocketDrain(): void {
    if (this.#bodyAttached) this.#request.body!.resume();
  }

  onSocketEnd(): void {
    if (this.#state === BODY && this.#kind === 'until-close') {
      this.#complete(false, []);
      return;
    }
    this.#conn?.socket.destroy();
  }

  onSocketClose(err: unknown): void {
    const conn = this.#conn;
    this.#conn = null;
    switch (this.#state) {
      case ENDED:
        return;
      case PENDING:
        if (conn !== null && !conn.connected) {
          // The exchange saw onConnect already when this is the retry: it learns of the first failure.
          if (this.#retryCause !== null) this.#fail(this.#retryCause);
          else this.#fail(err !== undefined ? classifyUpstreamError(err) : new LbError('LB_ERR_CONNECT', 'connect: closed'));
          return;
        }
        // A reused connection that died before we wrote on it: take another.
        if (this.#pool.closed) this.#fail(new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: upstream closed'));
        else this.#pool.acquire(this);
        return;
      case HEAD:
        if (this.#reused && this.#retryCause === null && !this.#gotBytes && this.#bodySent === 0 && !isTimeout(err)) {
          this.#retryCause =
            err !== undefined ? classifyUpstreamError(err) : new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: before the response');
          this.#detachBody(true);
          this.#state = PENDING;
          this.#requestWritten = false;
          this.#pool.connectFresh(this);
          return;
        }
        this.#fail(err !== undefined ? classifyUpstreamError(err) : new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: before the response'));
        return;
      default:
        this.#fail(
          err !== undefined ? classifyUpstreamError(err) : new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: during the response body'),
        );
    }
  }

  onSocketTimeout(): void {
    if (this.#state === ENDED || this.#paused) return;
    this.#conn?.fail(new LbError('LB_ERR_UPSTREAM_TIMEOUT', 'server: timeout'));
  }

  // ---- the request --------------------------------------------------------------

  #send(): void {
    const conn = this.#conn!;
    if (!this.#connectReported) {
      this.#connectReported = true;
      this.#handler.onConnect(this.#abort);
      if (this.#state !== PENDING) return; // aborted at once
    }
    this.#state = HEAD;
    conn.requests++;
    const socket = conn.socket;
    // The timeout stays set while a connection waits in the pool: set anew (a new timer) only when it differs.
    if (socket.timeout !== this.#serverMs) socket.setTimeout(this.#serverMs);
    const body = this.#request.body;
    if (body === null || this.#head.framing === 'none') {
      socket.write(this.#head.bytes);
      this.#requestWritten = true;
      return;
    }
    socket.cork();
    socket.write(this.#head.bytes);
    const first = body.readableLength > 0 ? (body.read() as Buffer | null) : null;
    if (first !== null) this.#writeBody(first);
    socket.uncork();
    if (this.#state !== HEAD && this.#state !== BODY) return;
    if (body.readableEnded) this.#endBody();
    else this.#attachBody(body);
  }

  #attachBody(body: Readable): void {
    this.#onBodyData ??= (chunk: Buffer) => this.#writeBody(chunk);
    this.#onBodyEnd ??= () => this.#endBody();
    this.#onBodyError ??= (err: Error) => {
      if (this.#state === ENDED) return;
      this.#fail(new LbError('LB_ERR_BAD_REQUEST', `request body: ${err.message}`));
    };
    this.#bodyAttached = true;
    body.on('data', this.#onBodyData);
    body.on('end', this.#onBodyEnd);
    if (!this.#errorListening) {
      this.#errorListening = true;
      body.on('error', this.#onBodyError);
    }
    if (body.isPaused()) body.resume();
  }

  /**
   * Stops forwarding the request body: kept paused for a retry, else the rest is read
   * and dropped (as node:http dumps an unread body) so the client's connection moves on.
   */
  #detachBody(forRetry = false): void {
    if (!this.#bodyAttached) return;
    this.#bodyAttached = false;
    const body = this.#request.body!;
    body.off('data', this.#onBodyData!);
    body.off('end', this.#onBodyEnd!);
    // The error listener stays (it ignores an ended attempt): a body failing later must not throw.
    if (forRetry) body.pause();
    else body.resume();
  }

  #writeBody(chunk: Buffer): void {
    const conn = this.#conn;
    if (conn === null || this.#state === ENDED || this.#state === PENDING) return;
    const socket = conn.socket;
    let ok: boolean;
    if (this.#head.framing === 'chunked') {
      if (chunk.length === 0) return;
      socket.cork();
      socket.write(chunk.length.toString(16) + '\r\n', 'latin1');
      socket.write(chunk);
      ok = socket.write(CRLF);
      socket.uncork();
    } else {
      const room = this.#head.contentLength - this.#bodySent;
      if (room <= 0) return; // never more than announced
      ok = socket.write(chunk.length > room ? chunk.subarray(0, room) : chunk);
      if (chunk.length > room) chunk = chunk.subarray(0, room);
    }
    this.#bodySent += chunk.length;
    if (!ok && this.#bodyAttached) this.#request.body!.pause();
    this.#handler.onBodySent(chunk.length);
  }

  #endBody(): void {
    this.#detachBody();
    if (this.#state === ENDED || this.#state === PENDING || this.#conn === null) return;
    if (this.#head.framing === 'chunked') this.#writeLastChunk(this.#conn.socket);
    else if (this.#bodySent < this.#head.contentLength) {
      this.#fail(new LbError('LB_ERR_BAD_REQUEST', 'request body shorter than its content-length'));
      return;
    }
    this.#requestWritten = true;
  }

  /** The last chunk, with the client's trailers when it sent some (only a chunked body carries them: with a Content-Length they are dropped, as HAProxy and nginx do). */
  #writeLastChunk(socket: Socket): void {
    const trailers = this.#request.body?.trailers;
    if (trailers === undefined || trailers.length === 0) socket.write(LAST_CHUNK);
    else socket.write(lastChunkWith(trailers), 'latin1');
  }

  // ---- the response -------------------------------------------------------------

  #onHeadBytes(chunk: Buffer): void {
    this.#gotBytes = true;
    let buf = chunk;
    if (this.#partial !== null) {
      buf = Buffer.concat([this.#partial, chunk]);
      this.#partial = null;
    }
    let pos = 0;
    for (;;) {
      const result = parseResponseHead(buf, pos);
      if (result.kind === 'partial') {
        this.#partial = pos === 0 ? buf : buf.subarray(pos);
        return;
      }
      if (result.kind === 'error') {
        this.#fail(new LbError('LB_ERR_BAD_RESPONSE', `protocol: ${result.code}`));
        return;
      }
      const head = result.head;
      pos = head.end;
      if (head.informational) {
        this.#handler.onInterim(head.status, head.reason, fieldPairs(head));
        if (this.#state !== HEAD || pos === buf.length) return;
        continue;
      }
      this.#onFinalHead(head, buf);
      return;
    }
  }

  #onFinalHead(head: ResponseHead, buf: Buffer): void {
    const request = this.#request;
    const status = head.status;
    if (status === 101) {
      this.#onSwitch(head, buf);
      return;
    }
    const kind = bodyKind(head, { status, requestMethod: request.method });
    if (kind === 'tunnel') {
      this.#fail(new LbError('LB_ERR_BAD_RESPONSE', 'protocol: unexpected tunnel'));
      return;
    }
    this.#kind = kind;
    this.#keepAlive = kind !== 'until-close' && request.upgrade === null && wantsKeepAlive(head.flags);
    if (this.#keepAlive) this.#idleMs = idleLimitOf(head);
    if (kind === 'length') this.#remaining = head.contentLength;
    else if (kind === 'chunked') this.#decoder = new ChunkedDecoder();
    this.#state = BODY;
    const goOn = this.#handler.onResponse(status, head.reason, fieldPairs(head), this.#resume);
    if (this.#state !== BODY) return;
    if (!goOn) this.#pause();
    if (kind === 'none') this.#complete(head.end < buf.length, []);
    else if (head.end < buf.length) this.#onBodyBytes(buf, head.end);
  }

  #onSwitch(head: ResponseHead, buf: Buffer): void {
    const wanted = this.#request.upgrade;
    const offered = head.get('upgrade');
    if (wanted === null || offered === undefined || !offered.toLowerCase().includes(wanted.toLowerCase())) {
      this.#fail(new LbError('LB_ERR_BAD_RESPONSE', 'protocol: unexpected 101'));
      return;
    }
    this.#state = ENDED;
    this.#detachBody();
    const conn = this.#conn!;
    this.#conn = null;
    const socket = conn.detach(head.end < buf.length ? buf.subarray(head.end) : null);
    this.#handler.onUpgrade(101, fieldPairs(head), socket);
  }

  #onBodyBytes(buf: Buffer, start: number): void {
    const handler = this.#handler;
    switch (this.#kind) {
      case 'length': {
        const take = Math.min(this.#remaining, buf.length - start);
        this.#remaining -= take;
        if (take > 0 && !handler.onData(start === 0 && take === buf.length ? buf : buf.subarray(start, start + take))) this.#pause();
        if (this.#state === BODY && this.#remaining === 0) this.#complete(start + take < buf.length, []);
        return;
      }
      case 'chunked': {
        const decoder = this.#decoder!;
        decoder.pos = start;
        for (let slice = decoder.read(buf, buf.length); slice !== null; slice = decoder.read(buf, buf.length)) {
          if (!handler.onData(slice)) this.#pause();
          if (this.#state !== BODY) return;
        }
        if (decoder.error !== null) this.#fail(new LbError('LB_ERR_BAD_RESPONSE', `protocol: ${decoder.error.code}`));
        else if (decoder.done) this.#complete(decoder.pos < buf.length, decoder.trailers);
        return;
      }
      case 'until-close':
        if (!handler.onData(start === 0 ? buf : buf.subarray(start))) this.#pause();
        return;
      default:
        return;
    }
  }

  #pause(): void {
    if (this.#paused || this.#conn === null) return;
    this.#paused = true;
    this.#conn.socket.setTimeout(0);
    this.#conn.socket.pause();
  }

  // ---- endings ------------------------------------------------------------------

  /** The response's last byte arrived; `extra`: bytes followed it (the connection is not reused). */
  #complete(extra: boolean, trailers: string[]): void {
    this.#state = ENDED;
    this.#detachBody();
    const conn = this.#conn!;
    this.#conn = null;
    this.#paused = false;
    this.#pool.release(conn, this.#keepAlive && !extra && this.#requestWritten, this.#idleMs);
    this.#handler.onComplete(trailers);
  }

  /** Ends a request that waited for a connection the pool will not give (closed, destroyed). */
  cancel(err: UpstreamError): void {
    if (this.#state !== ENDED) this.#fail(err);
  }

  #fail(err: UpstreamError | LbError<'LB_ERR_BAD_REQUEST'>): void {
    this.#state = ENDED;
    this.#detachBody();
    const conn = this.#conn;
    this.#conn = null;
    if (conn !== null) {
      conn.user = null;
      conn.socket.destroy();
    }
    this.#handler.onError(err);
  }
}

function isTimeout(err: unknown): boolean {
  return err instanceof LbError && (err.code === 'LB_ERR_UPSTREAM_TIMEOUT' || err.code === 'LB_ERR_CONNECT_TIMEOUT');
}

/** How long the connection may idle: ours, or the server's Keep-Alive timeout less a margin when shorter. */
function idleLimitOf(head: ResponseHead): number {
  const keepAlive = head.get('keep-alive');
  if (keepAlive === undefined) return DEFAULT_IDLE_MS;
  const match = KEEP_ALIVE_TIMEOUT.exec(keepAlive);
  if (match === null) return DEFAULT_IDLE_MS;
  return Math.min(DEFAULT_IDLE_MS, Number(match[1]) * 1000 - KEEP_ALIVE_MARGIN_MS);
}

/** The head's fields as raw string pairs. */
function fieldPairs(head: ResponseHead): string[] {
  const count = head.fieldCount;
  const pairs = new Array<string>(2 * count);
  for (let i = 0; i < count; i++) {
    pairs[2 * i] = head.nameAt(i);
    pairs[2 * i + 1] = head.valueAt(i);
  }
  return pairs;
}
