// One client connection served by Doorman's own HTTP/1.1 engine: bytes read into one
// buffer, the head parsed after each chunk, the body decoded into a Readable, one
// request at a time in order (pipelined bytes wait until the response ended), one
// timer per connection for the head deadline, keep-alive idleness and body idleness,
// and a tunnel after a 101. The exchange decides everything else.
import type { Socket } from 'node:net';
import { Exchange } from '../../exchange/exchange.js';
import { rawErrorResponse } from './raw-response.js';
import { bodyKind } from '../body-kind.js';
import { DEFAULT_CHUNKED_LIMITS } from '../chunked.js';
import { DEFAULT_HEAD_LIMITS, MF_EXPECT_CONTINUE, MF_VER_11, wantsKeepAlive, type HeadLimits } from '../head.js';
import { ClientTimer, T_BODY, T_HEAD, T_IDLE, T_NONE, type TimerTarget } from './client-timer.js';
import type { H1Connection, H1FrontOptions } from './options.js';
import { parseRequestHead, type RequestHead } from '../request-head.js';
import { RequestBody, type BodySource } from './request-body.js';
import { exchangeHeadOf, refusalOf, tunnelledUpgrade } from './request-head-of.js';
import { CONTINUE_100, keepAliveFields } from './response-writer.js';
import { SocketDownstream, type ResponseOwner } from './socket-downstream.js';
import { joinTunnel } from './tunnel.js';

export type { H1Connection, H1FrontOptions } from './options.js';

// Where the connection is in its current request.
const HEAD = 0; // reading a head (or idle between requests)
const BODY = 1; // reading the request body
const WAIT = 2; // request read, response in progress
const TUNNEL = 3;
const CLOSED = 4;

function destroyLate(socket: Socket): void {
  socket.destroy();
}

function next(conn: Connection): void {
  conn.continueWithBuffered();
}

/** Serves HTTP/1.1 on `socket` (plain, or TLS after its handshake) until it closes. */
export function serveH1Connection(socket: Socket, options: H1FrontOptions): H1Connection {
  return new Connection(socket, options);
}

class Connection implements H1Connection, ResponseOwner, BodySource, TimerTarget {
  readonly socket: Socket;
  readonly keepAliveText: string;
  readonly #options: H1FrontOptions;
  readonly #headLimits: HeadLimits;
  #state = HEAD;
  /** Bytes received and not consumed yet: a head being read, or pipelined requests. Never written into: slices of it may be in a body. */
  #buf: Buffer | null = null;
  #body: RequestBody | null = null;
  #down: SocketDownstream | null = null;
  #exchange: Exchange | null = null;
  #expectContinue = false;
  readonly #timer: ClientTimer;
  /** Body bytes at the last body timer check. */
  #seen = 0;
  #clientEnded = false;
  /** Drain: close after the response in flight. */
  #closeAfter = false;
  /** Paused because too many pipelined bytes wait. */
  #waitPaused = false;

  /** Doorman's answer to a request it could not read, as the frontend wants it written. */
  #rawError(status: number): string {
    return this.#options.rawError?.(status) ?? rawErrorResponse(status);
  }

  constructor(socket: Socket, options: H1FrontOptions) {
    this.socket = socket;
    this.#options = options;
    this.#headLimits = options.headLimits ?? DEFAULT_HEAD_LIMITS;
    this.keepAliveText = keepAliveFields(options.clientTimeoutMs);
    // A client that half-closes after its request still gets its answer.
    socket.allowHalfOpen = true;
    // A new connection owes its first head within the limit.
    this.#timer = new ClientTimer(this, options.clientTimeoutMs, T_HEAD);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('drain', this.#onDrain);
    socket.on('error', this.#onError);
    socket.once('close', this.#onClose);
  }

  closeIdle(): void {
    this.#closeAfter = true;
    if (this.#state === HEAD && this.#buf === null) this.#closeGracefully();
  }

  close(): void {
    // A connection closing after its last answer is still flushing it (a TLS socket's
    // bytes may not have reached the kernel yet): give it a moment, then cut.
    if (this.#state === CLOSED && !this.socket.destroyed) setTimeout(destroyLate, 1000, this.socket).unref();
    else this.socket.destroy();
  }

  // ---- reading ----------------------------------------------------------------

  readonly #onData = (chunk: Buffer): void => {
    switch (this.#state) {
      case BODY:
        this.#feedBody(chunk, 0, chunk.length);
        return;
      case HEAD:
        this.#append(chunk);
        this.#parse();
        return;
      case WAIT:
        this.#append(chunk);
        return;
      default:
        return;
    }
  };

  #append(chunk: Buffer): void {
    const buf = this.#buf === null ? chunk : Buffer.concat([this.#buf, chunk]);
    this.#buf = buf;
    // Pipelined requests wait for the response in flight; past a head's worth, the client waits too.
    if (this.#state === WAIT && buf.length > this.#headLimits.maxHeadBytes && !this.#waitPaused) {
      this.#waitPaused = true;
      this.socket.pause();
    }
  }

  #parse(): void {
    const buf = this.#buf;
    if (buf === null) return;
    // The head deadline runs from its first byte.
    if (this.#timer.mode !== T_HEAD) this.#timer.set(T_HEAD);
    const result = parseRequestHead(buf, 0, this.#headLimits);
    if (result.kind === 'partial') {
      if (this.#clientEnded) this.socket.destroy();
      return;
    }
    if (result.kind === 'error') {
      this.#options.clientError?.(result.status, result.code);
      this.#finalWrite(this.#rawError(result.status));
      return;
    }
    this.#startRequest(result.head, buf);
  }

  #startRequest(head: RequestHead, buf: Buffer): void {
    const rest = head.end < buf.length ? buf.subarray(head.end) : null;
    const kind = bodyKind(head);
    const upgrade = tunnelledUpgrade(head);
    const http11 = (head.flags & MF_VER_11) !== 0;
    // A refused upgrade is answered and the connection closed, as a tunnel would have been.
    const keepAlive = wantsKeepAlive(head.flags) && upgrade === null;
    const body = kind === 'length' || kind === 'chunked' ? new RequestBody(this, head.contentLength, kind === 'chunked', this.#options.chunkedLimits ?? DEFAULT_CHUNKED_LIMITS) : null;
    this.#body = body;
    this.#expectContinue = body !== null && http11 && (head.flags & MF_EXPECT_CONTINUE) !== 0;
    const down = new SocketDownstream(this, body, head.method, http11, keepAlive, upgrade !== null);
    this.#down = down;
    this.#state = body !== null ? BODY : WAIT;
    // Without a body, what follows the head is the next request (or a tunnel's first bytes): it waits in the buffer.
    this.#buf = body !== null ? null : rest;
    this.#timer.set(T_NONE);
    const exchange = new Exchange(exchangeHeadOf(head, body !== null, upgrade, this.socket), down, this.#options.context(), this.#options.requestId());
    this.#exchange = exchange;
    const refused = refusalOf(head);
    if (refused !== null) exchange.reject(refused);
    else exchange.start();
    if (rest !== null && body !== null && this.#state === BODY && this.#body === body) this.#feedBody(rest, 0, rest.length);
  }

  #feedBody(buf: Buffer, start: number, end: number): void {
    const body = this.#body!;
    const taken = body.feed(buf, start, end);
    if (taken < 0) {
      this.#badBody(body);
      return;
    }
    if (!body.complete) {
      if (body.full) this.socket.pause();
      return;
    }
    this.#state = WAIT;
    this.#timer.set(T_NONE);
    this.socket.resume();
    if (start + taken < end) this.#append(buf.subarray(start + taken, end));
  }

  /** A chunked body whose framing broke: nothing after it can be trusted. */
  #badBody(body: RequestBody): void {
    const code = body.framingError?.code ?? 'bad-chunk-size';
    body.destroy(new Error(`request body: ${code}`));
    const down = this.#down;
    const answered = down !== null && down.started;
    this.#options.clientError?.(400, code);
    down?.clientGone();
    if (answered) this.socket.destroy();
    else this.#finalWrite(this.#rawError(400));
  }

  resumeBody(): void {
    if (this.#state === BODY && !this.socket.destroyed) this.socket.resume();
  }

  // ---- the exchange's calls (ResponseOwner) -----------------------------------

  bodyPending(): boolean {
    return this.#body !== null && !this.#body.complete;
  }

  bodyWanted(): void {
    const body = this.#body;
    if (body === null || this.#state !== BODY) return;
    if (this.#expectContinue) {
      this.#expectContinue = false;
      if (body.received === 0 && !this.#down!.started) this.socket.write(CONTINUE_100, 'latin1');
    }
    this.#seen = body.received;
    this.#timer.set(T_BODY);
  }

  responseEnded(close: boolean): void {
    if (this.#state === TUNNEL || this.#state === CLOSED) return;
    const body = this.#body;
    const bodyRead = body === null || body.complete;
    this.#body = null;
    this.#down = null;
    this.#exchange = null;
    if (!bodyRead) body.destroy();
    if (close || !bodyRead || this.#closeAfter || (this.#clientEnded && this.#buf === null)) {
      this.#closeGracefully();
      return;
    }
    this.#state = HEAD;
    this.#timer.set(T_IDLE);
    // The next request starts after this exchange has finished its bookkeeping.
    process.nextTick(next, this);
  }

  /** After a response: the pipelined bytes already here, or wait for more. */
  continueWithBuffered(): void {
    if (this.#state !== HEAD) return;
    if (this.#waitPaused) {
      this.#waitPaused = false;
      this.socket.resume();
    }
    if (this.#buf !== null) this.#parse();
  }

  tunnel(head: string, upstream: Socket, done: (fromClient: number, toClient: number) => void): void {
    const socket = this.socket;
    this.#state = TUNNEL;
    this.#timer.stop();
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('drain', this.#onDrain);
    // A tunnel ends when either side ends.
    socket.allowHalfOpen = false;
    const early = this.#buf;
    this.#buf = null;
    this.#down = null;
    this.#exchange = null;
    joinTunnel(socket, head, early, upstream, this.#options.clientTimeoutMs, done);
  }

  readonly #onDrain = (): void => {
    this.#down?.drainListener?.();
  };

  // ---- endings ------------------------------------------------------------------

  readonly #onEnd = (): void => {
    this.#clientEnded = true;
    switch (this.#state) {
      case HEAD:
        if (this.#buf === null) this.#closeGracefully();
        else this.#parse();
        return;
      case BODY:
        // The body was cut short: the exchange learns the client is gone.
        this.socket.destroy();
        return;
      case WAIT:
        // A half-closed request is still answered once it reached a server; one still
        // queued, or an upgrade, is a client gone (HAProxy's abortonclose, for the queue).
        if (this.#down?.upgrade === true || this.#exchange?.queued === true) this.socket.destroy();
        return;
      default:
        return;
    }
  };

  readonly #onError = (): void => {
    this.socket.destroy();
  };

  readonly #onClose = (): void => {
    this.#state = CLOSED;
    this.#timer.stop();
    const body = this.#body;
    if (body !== null && !body.complete) body.destroy(new Error('client closed during the request body'));
    this.#body = null;
    const down = this.#down;
    this.#down = null;
    this.#exchange = null;
    down?.clientGone();
  };

  onTimer(mode: number): void {
    switch (mode) {
      case T_IDLE:
        this.#closeGracefully();
        return;
      case T_HEAD:
        this.#options.clientError?.(408, 'request-timeout');
        this.#finalWrite(this.#rawError(408));
        return;
      case T_BODY: {
        const body = this.#body;
        if (body === null || this.#state !== BODY) return;
        // Paused by backpressure from the server: not the client's fault.
        if (body.full || body.received !== this.#seen) {
          this.#seen = body.received;
          this.#timer.again();
          return;
        }
        this.socket.destroy();
        return;
      }
      default:
        return;
    }
  }

  /** Writes a last answer and closes once it is out. */
  #finalWrite(text: string): void {
    this.#state = CLOSED;
    this.#timer.set(T_NONE);
    this.socket.off('data', this.#onData);
    if (this.socket.destroyed) return;
    this.socket.write(text, 'latin1');
    this.socket.destroySoon();
  }

  #closeGracefully(): void {
    this.#state = CLOSED;
    this.#timer.set(T_NONE);
    this.socket.off('data', this.#onData);
    if (!this.socket.destroyed) this.socket.destroySoon();
  }
}
