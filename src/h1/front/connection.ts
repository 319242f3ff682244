// One client connection served by Doorman's own HTTP/1.1 engine: the state machine
// over the socket's events. A head is parsed from the pending bytes after each chunk;
// a request with a body feeds it through the BodyFeed; one request at a time, in order
// (pipelined bytes wait in PendingBytes until the response ended); one timer for the
// head deadline, keep-alive idleness and body idleness; a tunnel after a 101. The
// exchange decides everything else.
import type { Socket } from 'node:net';
import type { ConnectionAddresses } from '../../client-address.js';
import { Exchange } from '../../exchange/exchange.js';
import { bodyKind } from '../body-kind.js';
import { DEFAULT_CHUNKED_LIMITS } from '../chunked.js';
import { DEFAULT_HEAD_LIMITS, MF_EXPECT_CONTINUE, MF_VER_11, wantsKeepAlive, type HeadLimits } from '../head.js';
import { parseRequestHead, type RequestHead } from '../request-head.js';
import { BODY_BROKEN, BODY_MORE, BodyFeed } from './body-feed.js';
import { ClientTimer, T_BODY, T_HEAD, T_IDLE, T_NONE, type TimerTarget } from './client-timer.js';
import { closeAfterLastAnswer, closeNow, keepsConnection } from './closing.js';
import type { H1Connection, H1FrontOptions } from './options.js';
import { PendingBytes } from './pending-bytes.js';
import { rawErrorResponse } from './raw-response.js';
import { RequestBody, type BodySource } from './request-body.js';
import { exchangeHeadOf, refusalOf, tunnelledUpgrade } from './request-head-of.js';
import { keepAliveFields } from './response-writer.js';
import { SocketDownstream, type ResponseOwner } from './socket-downstream.js';
import { joinTunnel } from './tunnel.js';

export type { H1Connection, H1FrontOptions } from './options.js';

// Where the connection is in its current request.
const HEAD = 0; // reading a head (or idle between requests)
const BODY = 1; // reading the request body
const WAIT = 2; // request read, response in progress
const TUNNEL = 3;
const CLOSED = 4;

function next(conn: Connection): void {
  conn.continueWithBuffered();
}

/**
 * Serves HTTP/1.1 on `socket` (plain, or TLS after its handshake) until it closes;
 * `addresses` were decided at accept (a PROXY header's, or the socket's).
 */
export function serveH1Connection(socket: Socket, addresses: ConnectionAddresses, options: H1FrontOptions): H1Connection {
  return new Connection(socket, addresses, options);
}

class Connection implements H1Connection, ResponseOwner, BodySource, TimerTarget {
  readonly socket: Socket;
  readonly keepAliveText: string;
  readonly #addresses: ConnectionAddresses;
  readonly #options: H1FrontOptions;
  readonly #headLimits: HeadLimits;
  #state = HEAD;
  /** Bytes received and not consumed yet: a head being read, or pipelined requests. */
  readonly #pending: PendingBytes;
  readonly #body: BodyFeed;
  #down: SocketDownstream | null = null;
  #exchange: Exchange | null = null;
  readonly #timer: ClientTimer;
  #clientEnded = false;
  /** Drain: close after the response in flight. */
  #closeAfter = false;

  /** Doorman's answer to a request it could not read, as the frontend wants it written. */
  #rawError(status: number): string {
    return this.#options.rawError?.(status) ?? rawErrorResponse(status);
  }

  constructor(socket: Socket, addresses: ConnectionAddresses, options: H1FrontOptions) {
    this.socket = socket;
    this.#addresses = addresses;
    this.#options = options;
    this.#headLimits = options.headLimits ?? DEFAULT_HEAD_LIMITS;
    this.#pending = new PendingBytes(socket, this.#headLimits.maxHeadBytes);
    this.#body = new BodyFeed(socket);
    this.keepAliveText = keepAliveFields(options.clientTimeoutMs);
    // A client that half-closes after its request still gets its answer.
    socket.allowHalfOpen = true;
    // A new connection owes its first head within the limit.
    this.#timer = new ClientTimer(this, options.clientTimeoutMs, T_HEAD);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('drain', this.#onDrain);
    socket.on('error', this.#onError);
    // 'close' comes once: `on` spares the wrapper `once` makes for every connection.
    socket.on('close', this.#onClose);
  }

  closeIdle(): void {
    this.#closeAfter = true;
    if (this.#state === HEAD && this.#pending.bytes === null) this.#closeGracefully();
  }

  close(): void {
    closeNow(this.socket, this.#state === CLOSED);
  }

  // ---- reading ----------------------------------------------------------------

  readonly #onData = (chunk: Buffer): void => {
    switch (this.#state) {
      case BODY:
        this.#feedBody(chunk, 0, chunk.length);
        return;
      case HEAD:
        this.#pending.add(chunk);
        this.#parse();
        return;
      case WAIT:
        this.#pending.addWhileWaiting(chunk);
        return;
      default:
        return;
    }
  };

  #parse(): void {
    const buf = this.#pending.bytes;
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
    const body =
      kind === 'length' || kind === 'chunked'
        ? new RequestBody(this, head.contentLength, kind === 'chunked', this.#options.chunkedLimits ?? DEFAULT_CHUNKED_LIMITS)
        : null;
    this.#body.begin(body, body !== null && http11 && (head.flags & MF_EXPECT_CONTINUE) !== 0);
    const down = new SocketDownstream(this, body, head.method, http11, keepAlive, upgrade !== null);
    this.#down = down;
    this.#state = body !== null ? BODY : WAIT;
    // Without a body, what follows the head is the next request (or a tunnel's first bytes): it waits.
    this.#pending.keep(body !== null ? null : rest);
    this.#timer.set(T_NONE);
    const exchange = new Exchange(
      exchangeHeadOf(head, body !== null, upgrade, this.#addresses),
      down,
      this.#options.context(),
      this.#options.requestId(),
    );
    this.#exchange = exchange;
    const refused = refusalOf(head);
    if (refused !== null) exchange.reject(refused);
    else exchange.start();
    if (rest !== null && body !== null && this.#state === BODY && this.#down === down) this.#feedBody(rest, 0, rest.length);
  }

  #feedBody(buf: Buffer, start: number, end: number): void {
    const at = this.#body.feed(buf, start, end);
    if (at === BODY_MORE) return;
    if (at === BODY_BROKEN) {
      this.#badBody();
      return;
    }
    this.#state = WAIT;
    this.#timer.set(T_NONE);
    this.socket.resume();
    if (at < end) this.#pending.addWhileWaiting(buf.subarray(at, end));
  }

  /** A chunked body whose framing broke: nothing after it can be trusted. */
  #badBody(): void {
    const code = this.#body.fail();
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
    return this.#body.pending;
  }

  bodyWanted(): void {
    if (this.#state !== BODY || !this.#body.pending) return;
    this.#body.wanted(this.#down!.started);
    this.#timer.set(T_BODY);
  }

  responseEnded(close: boolean): void {
    if (this.#state === TUNNEL || this.#state === CLOSED) return;
    const bodyRead = this.#body.finish();
    this.#down = null;
    this.#exchange = null;
    if (!keepsConnection(close, bodyRead, this.#closeAfter, this.#clientEnded, this.#pending.bytes !== null)) {
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
    this.#pending.resumeReads();
    if (this.#pending.bytes !== null) this.#parse();
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
    this.#down = null;
    this.#exchange = null;
    joinTunnel(socket, head, this.#pending.take(), upstream, this.#options.clientTimeoutMs, done);
  }

  readonly #onDrain = (): void => {
    this.#down?.drainListener?.();
  };

  // ---- endings ------------------------------------------------------------------

  readonly #onEnd = (): void => {
    this.#clientEnded = true;
    switch (this.#state) {
      case HEAD:
        if (this.#pending.bytes === null) this.#closeGracefully();
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
    this.#body.clientGone();
    const down = this.#down;
    this.#down = null;
    this.#exchange = null;
    down?.clientGone();
    this.#options.closed?.(this);
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
      case T_BODY:
        if (this.#state !== BODY || !this.#body.pending) return;
        if (this.#body.stalled()) this.socket.destroy();
        else this.#timer.again();
        return;
      default:
        return;
    }
  }

  /** Writes a last answer and closes once it is out. */
  #finalWrite(text: string): void {
    this.#stopReading();
    closeAfterLastAnswer(this.socket, text);
  }

  #closeGracefully(): void {
    this.#stopReading();
    closeAfterLastAnswer(this.socket, null);
  }

  #stopReading(): void {
    this.#state = CLOSED;
    this.#timer.set(T_NONE);
    this.socket.off('data', this.#onData);
  }
}
