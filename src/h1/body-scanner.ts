// The contract of a body scanner, and the trivial one for Content-Length. A proxy
// forwards a body's bytes as they are: the scanner only says how many of the bytes
// received belong to the body and when it ended, so the rest is the next message.
import type { H1ErrorCode } from './errors.js';

/** Where and why a body's framing broke. */
export interface BodyError {
  readonly code: H1ErrorCode;
  /** Offset in the buffer passed to the feed that found it. */
  readonly pos: number;
}

/** Scans a body as it streams through; resumable at every byte boundary. */
export interface BodyScanner {
  /**
   * Scans buf[start, end): returns how many bytes from `start` belong to the body (fewer
   * than offered once it ends), or -1 when its framing is broken (see `error`).
   */
  feed(buf: Buffer, start: number, end: number): number;
  /** True once the body's last byte was returned by feed. */
  readonly done: boolean;
  /** The framing error, once feed returned -1. */
  readonly error: BodyError | null;
}

/** A body of exactly `length` bytes (Content-Length). */
export class LengthBody implements BodyScanner {
  #remaining: number;

  constructor(length: number) {
    if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`body length ${length} is not a safe non-negative integer`);
    this.#remaining = length;
  }

  feed(_buf: Buffer, start: number, end: number): number {
    const take = Math.min(this.#remaining, Math.max(0, end - start));
    this.#remaining -= take;
    return take;
  }

  get done(): boolean {
    return this.#remaining === 0;
  }

  /** Bytes still expected. */
  get remaining(): number {
    return this.#remaining;
  }

  get error(): null {
    return null;
  }
}

/** A response body read until the server closes (never done: the close ends it). */
export class UntilCloseBody implements BodyScanner {
  feed(_buf: Buffer, start: number, end: number): number {
    return Math.max(0, end - start);
  }

  get done(): boolean {
    return false;
  }

  get error(): null {
    return null;
  }
}
