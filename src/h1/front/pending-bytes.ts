// The bytes a client sent that no request has consumed yet: a head being read, or the
// pipelined requests that wait while the response in flight is written. Past a head's
// worth of waiting bytes the socket stops reading, so a pipelining client is held back
// instead of buffered without bound.
import type { Socket } from 'node:net';

export class PendingBytes {
  readonly #socket: Socket;
  /** Waiting bytes past which reads pause. */
  readonly #maxWaiting: number;
  /** Never written into: slices of it may be in a body. */
  #buf: Buffer | null = null;
  #paused = false;

  constructor(socket: Socket, maxWaiting: number) {
    this.#socket = socket;
    this.#maxWaiting = maxWaiting;
  }

  /** The bytes, or null when there are none. */
  get bytes(): Buffer | null {
    return this.#buf;
  }

  /** Bytes of the head being read. */
  add(chunk: Buffer): void {
    this.#buf = this.#buf === null ? chunk : Buffer.concat([this.#buf, chunk]);
  }

  /** Bytes that arrived while a response is in flight: they wait, and past the limit the client waits too. */
  addWhileWaiting(chunk: Buffer): void {
    this.add(chunk);
    if (this.#buf!.length > this.#maxWaiting && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  /** Hands the bytes over (to a request, a tunnel) and forgets them. */
  take(): Buffer | null {
    const buf = this.#buf;
    this.#buf = null;
    return buf;
  }

  /** Keeps `rest` as the only waiting bytes (what followed a head without a body). */
  keep(rest: Buffer | null): void {
    this.#buf = rest;
  }

  /** The response in flight ended: the client may send again. */
  resumeReads(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#socket.resume();
  }
}
