// The body of the request a connection is reading: the bytes after the head fed to its
// RequestBody, the socket paused while the body's consumer is behind, 100 Continue
// once the exchange wants the body, and the client's progress for its idle limit. One
// per connection, reused by each request.
import type { Socket } from 'node:net';
import type { RequestBody } from './request-body.js';
import { CONTINUE_100 } from './response-writer.js';

/** feed(): every byte taken, more to come. */
export const BODY_MORE = -1;
/** feed(): the chunked framing broke; nothing after it can be trusted. */
export const BODY_BROKEN = -2;

export class BodyFeed {
  readonly #socket: Socket;
  #body: RequestBody | null = null;
  /** The client asked for 100 Continue and has not had it. */
  #expectContinue = false;
  /** Body bytes at the last idle check. */
  #seen = 0;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** A new request: its body (null when it has none), and whether it waits for 100 Continue. */
  begin(body: RequestBody | null, expectContinue: boolean): void {
    this.#body = body;
    this.#expectContinue = expectContinue;
  }

  /** True while body bytes are still to come. */
  get pending(): boolean {
    return this.#body !== null && !this.#body.complete;
  }

  /**
   * Feeds buf[start, end) to the body: BODY_MORE, BODY_BROKEN, or the offset where the
   * body ended (what follows is the next request).
   */
  feed(buf: Buffer, start: number, end: number): number {
    const body = this.#body!;
    const taken = body.feed(buf, start, end);
    if (taken < 0) return BODY_BROKEN;
    if (body.complete) return start + taken;
    if (body.full) this.#socket.pause();
    return BODY_MORE;
  }

  /** After BODY_BROKEN: fails the body and returns the framing error's code. */
  fail(): string {
    const body = this.#body!;
    const code = body.framingError?.code ?? 'bad-chunk-size';
    body.destroy(new Error(`request body: ${code}`));
    return code;
  }

  /** The exchange wants the body: 100 Continue if the client waits for it and no answer went out; the idle check starts. */
  wanted(answered: boolean): void {
    const body = this.#body!;
    if (this.#expectContinue) {
      this.#expectContinue = false;
      if (body.received === 0 && !answered) this.#socket.write(CONTINUE_100, 'latin1');
    }
    this.#seen = body.received;
  }

  /** At the body timer: true when the client sent nothing for a whole period (a body paused by the server's backpressure is not stalled). */
  stalled(): boolean {
    const body = this.#body!;
    if (body.full || body.received !== this.#seen) {
      this.#seen = body.received;
      return false;
    }
    return true;
  }

  /** The response ended: forgets the body; false when it was not read to its end (destroyed then: the connection cannot go on). */
  finish(): boolean {
    const body = this.#body;
    this.#body = null;
    if (body === null || body.complete) return true;
    body.destroy();
    return false;
  }

  /** The client left: a body still coming fails. */
  clientGone(): void {
    const body = this.#body;
    this.#body = null;
    if (body !== null && !body.complete) body.destroy(new Error('client closed during the request body'));
  }
}
