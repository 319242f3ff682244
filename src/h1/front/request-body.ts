// A request body as the Readable the exchange hands upstream: the decoded payload
// (Content-Length bytes as they are, chunked bodies without their framing), pushed as
// slices of the connection's buffers, never copied. A consumer that falls behind pauses
// the connection's socket until it reads again.
import { Readable } from 'node:stream';
import { LengthBody, type BodyError, type BodyScanner } from '../body-scanner.js';
import { ChunkedBody, type ChunkedLimits, type PayloadSink } from '../chunked.js';
import { parseTrailerSection, trailersProblem } from '../trailer-fields.js';

/** The trailers of a body that had none (shared: never written into). */
const NO_TRAILERS: readonly string[] = [];

function ignore(): void {}

/** The connection side of a body: told when the consumer wants more bytes. */
export interface BodySource {
  resumeBody(): void;
}

/** One request's body; the connection feeds it the bytes after the head. */
export class RequestBody extends Readable implements PayloadSink {
  readonly #source: BodySource;
  readonly #scanner: BodyScanner;
  /** Null for chunked bodies: the scanner hands the payload to `payload` itself. */
  readonly #length: LengthBody | null;
  /** The last push was refused: the socket is paused until _read. */
  #full = false;
  /** Payload bytes received so far: the client's progress, for its idle limit. */
  received = 0;
  /** The trailer fields of a chunked body (raw pairs), once it ended: the upstream sends them after the last chunk. */
  trailers: readonly string[] = NO_TRAILERS;
  /** The trailer section's bytes as they came (slices of the connection's buffers). */
  #trailerParts: Buffer[] | null = null;
  /** A trailer field the scanner let through but a proxy must not pass on. */
  #trailerError: BodyError | null = null;

  constructor(source: BodySource, contentLength: number, chunked: boolean, limits: ChunkedLimits) {
    super();
    // A body cut short is destroyed with an error; a consumer that already left must not crash the process.
    this.on('error', ignore);
    this.#source = source;
    this.#length = chunked ? null : new LengthBody(contentLength);
    this.#scanner = this.#length ?? new ChunkedBody(limits, this);
  }

  /** True once the last payload byte arrived (the connection can read the next request). */
  get complete(): boolean {
    return this.#scanner.done;
  }

  /** The chunked framing error, after feed returned -1. */
  get framingError(): BodyError | null {
    return this.#scanner.error ?? this.#trailerError;
  }

  /** True while the consumer has not taken what was pushed: not the client's fault if it stalls. */
  get full(): boolean {
    return this.#full;
  }

  /** Scans buf[start, end): the bytes that belonged to the body (the rest is the next request), or -1 on a framing error. */
  feed(buf: Buffer, start: number, end: number): number {
    const taken = this.#scanner.feed(buf, start, end);
    if (taken < 0) return -1;
    if (this.#length !== null && taken > 0) this.payload(buf, start, start + taken);
    if (this.#scanner.done) {
      if (this.#trailerParts !== null && !this.#takeTrailers()) return -1;
      this.push(null);
    }
    return taken;
  }

  trailerBytes(buf: Buffer, start: number, end: number): void {
    // A section that is only its final CRLF (no trailers, the common case) is not kept.
    if (this.#trailerParts === null && end - start === 2 && buf[start] === 13) return;
    (this.#trailerParts ??= []).push(buf.subarray(start, end));
  }

  /** Reads the trailer section; false when a field must not be passed on. */
  #takeTrailers(): boolean {
    const pairs = parseTrailerSection(this.#trailerParts);
    this.#trailerParts = null;
    if (trailersProblem(pairs) !== null) {
      this.#trailerError = { code: 'forbidden-trailer', pos: 0 };
      return false;
    }
    this.trailers = pairs;
    return true;
  }

  payload(buf: Buffer, start: number, end: number): void {
    this.received += end - start;
    // A consumer that gave up (upstream failed) reads nothing more: the bytes are dropped.
    if (this.destroyed) return;
    if (!this.push(buf.subarray(start, end))) this.#full = true;
  }

  /** A consumer that reads nothing more must not hold the socket paused. */
  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#full) {
      this.#full = false;
      this.#source.resumeBody();
    }
    callback(err);
  }

  override _read(): void {
    if (!this.#full) return;
    this.#full = false;
    this.#source.resumeBody();
  }
}
