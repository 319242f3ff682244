// The Downstream of one request on a connection Doorman parses itself: the head held
// back and sent in one buffer with the first body chunk (one TLS record, one write, no
// writev), or alone a tick later; the body framed as the head said
// (raw, chunk-encoded, or dropped), backpressure straight from the socket, and the end
// handed back to the connection, which then reads the next request or closes.
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Downstream } from '../../exchange/downstream.js';
import { buildInterimHead, buildResponseHead, lastChunk, type ResponseFraming } from './response-writer.js';

/** What a request's Downstream asks of its connection. */
export interface ResponseOwner {
  readonly socket: Socket;
  /** The Connection and Keep-Alive fields of a kept-alive response. */
  readonly keepAliveText: string;
  /** True while request body bytes are still to come: an answer sent now closes the connection (its end is unknown). */
  bodyPending(): boolean;
  /** The exchange wants the request body: 100 Continue if asked for, and the client's idle limit on the body. */
  bodyWanted(): void;
  /** The response ended; `close`: the connection ends after it. */
  responseEnded(close: boolean): void;
  /** A 101: the connection becomes a tunnel to `upstream`. */
  tunnel(head: string, upstream: Socket, done: (fromClient: number, toClient: number) => void): void;
}

const CRLF = '\r\n';

/** Sends a head whose body did not follow within the tick (a static function: no closure per response). */
function sendHeadLate(down: SocketDownstream): void {
  down.flushHead();
}

/** `head` (latin1 text), then `chunk`, framed, as one buffer. */
function headWithChunk(head: string, chunk: Buffer, chunked: boolean): Buffer {
  const size = chunked ? `${chunk.length.toString(16)}\r\n` : '';
  const out = Buffer.allocUnsafe(head.length + size.length + chunk.length + (chunked ? 2 : 0));
  let at = out.write(head, 0, 'latin1');
  if (chunked) at += out.write(size, at, 'latin1');
  at += chunk.copy(out, at);
  if (chunked) out.write(CRLF, at, 'latin1');
  return out;
}

/** One request's way back to its client over an HTTP/1.1 connection. */
export class SocketDownstream implements Downstream {
  readonly body: Readable | null;
  readonly #owner: ResponseOwner;
  readonly #method: string;
  readonly #http11: boolean;
  /** The client wants the connection kept (its version and Connection header). */
  readonly #keepAlive: boolean;
  /** The request asked for a tunnel. */
  readonly upgrade: boolean;
  #framing: ResponseFraming = 'none';
  #close = false;
  /** The head, until it leaves with the first body chunk or alone. */
  #pendingHead: string | null = null;
  /** The head went out. */
  started = false;
  /** The response ended, was cut, or the client left. */
  finished = false;
  #onClose: (() => void) | null = null;
  /** Called by the connection's one 'drain' handler. */
  drainListener: (() => void) | null = null;

  constructor(owner: ResponseOwner, body: Readable | null, method: string, http11: boolean, keepAlive: boolean, upgrade: boolean) {
    this.upgrade = upgrade;
    this.#owner = owner;
    this.body = body;
    this.#method = method;
    this.#http11 = http11;
    this.#keepAlive = keepAlive;
  }

  onClose(listener: () => void): void {
    this.#onClose = listener;
  }

  /** The connection lost its client before this response ended. */
  clientGone(): void {
    if (this.finished) return;
    this.finished = true;
    const listener = this.#onClose;
    this.#onClose = null;
    listener?.();
  }

  bodyFlowing(): void {
    if (!this.finished) this.#owner.bodyWanted();
  }

  /** A 1xx before the final head; an HTTP/1.0 client never gets one (RFC 9110 §15.2). */
  interim(status: number, statusText: string, headers: readonly string[]): void {
    if (!this.#http11 || this.started || this.finished) return;
    const text = buildInterimHead(status, statusText, headers);
    const socket = this.#owner.socket;
    if (!socket.destroyed) socket.write(text, 'latin1');
  }

  respond(status: number, statusText: string, headers: readonly string[], close: boolean): void {
    if (this.finished || this.started) return;
    const head = buildResponseHead(
      status,
      statusText,
      headers,
      this.#method,
      this.#http11,
      this.#keepAlive && !close && !this.#owner.bodyPending(),
      this.#owner.keepAliveText,
    );
    this.started = true;
    this.#framing = head.framing;
    this.#close = head.close;
    if (this.#owner.socket.destroyed) return;
    this.#pendingHead = head.text;
    process.nextTick(sendHeadLate, this);
  }

  /** Sends the held head on its own (no body chunk came within the tick, or the response ends without one). */
  flushHead(): void {
    const head = this.#pendingHead;
    if (head === null) return;
    this.#pendingHead = null;
    const socket = this.#owner.socket;
    if (!socket.destroyed) socket.write(head, 'latin1');
  }

  write(chunk: Buffer): boolean {
    const socket = this.#owner.socket;
    if (this.finished || socket.destroyed) return true;
    if (chunk.length === 0 || this.#framing === 'none') {
      this.flushHead();
      return true;
    }
    const chunked = this.#framing === 'chunked';
    const head = this.#pendingHead;
    if (head !== null) {
      this.#pendingHead = null;
      return socket.write(headWithChunk(head, chunk, chunked));
    }
    if (!chunked) return socket.write(chunk);
    socket.cork();
    socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
    socket.write(chunk);
    const ok = socket.write(CRLF, 'latin1');
    socket.uncork();
    return ok;
  }

  onDrain(listener: () => void): void {
    this.drainListener = listener;
  }

  end(last?: string, trailers?: readonly string[]): void {
    if (this.finished) return;
    const socket = this.#owner.socket;
    if (!socket.destroyed) {
      if (last !== undefined && last.length > 0) this.write(Buffer.from(last));
      // Trailers only exist in a chunked body; elsewhere they are dropped.
      if (this.#framing === 'chunked') {
        const head = this.#pendingHead ?? '';
        this.#pendingHead = null;
        socket.write(head + lastChunk(trailers), 'latin1');
      } else this.flushHead();
    }
    this.finished = true;
    this.#onClose = null;
    this.drainListener = null;
    this.#owner.responseEnded(this.#close);
  }

  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.#onClose = null;
    this.#owner.socket.destroy();
  }

  tunnel(status: number, headers: readonly string[], upstream: Socket, done: (fromClient: number, toClient: number) => void): void {
    if (this.finished) {
      upstream.destroy();
      return;
    }
    this.finished = true;
    this.started = true;
    this.#onClose = null;
    let head = `HTTP/1.1 ${status} Switching Protocols\r\n`;
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    this.#owner.tunnel(`${head}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`, upstream, done);
  }
}
