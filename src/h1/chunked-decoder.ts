// Decodes a chunked body for a consumer that frames the body itself (node:http's
// response writer): payload slices of the received buffers (subarray, no copy) and the
// trailer fields. Validation is ChunkedBody's, in its decoding mode.
import { ChunkedBody, DEFAULT_CHUNKED_LIMITS, type ChunkedLimits } from './chunked.js';
import type { BodyError } from './body-scanner.js';
import { parseTrailerSection } from './trailer-fields.js';

/** One chunked body, decoded as it streams; make one per message. */
export class ChunkedDecoder {
  readonly #body: ChunkedBody;
  /** Where the next `read` starts in the buffer it is given; after the end, where the next message starts. */
  pos = 0;
  #trailerParts: Buffer[] | null = null;
  #trailers: string[] | null = null;

  constructor(limits: ChunkedLimits = DEFAULT_CHUNKED_LIMITS) {
    this.#body = new ChunkedBody(limits);
  }

  /** True once the last byte of the body (the trailer section's empty line) was read. */
  get done(): boolean {
    return this.#body.done;
  }

  /** The framing error, once `read` stopped on one. */
  get error(): BodyError | null {
    return this.#body.error;
  }

  /** The trailer fields as raw pairs (name, value), once done; empty when none. */
  get trailers(): string[] {
    return this.#trailers ?? [];
  }

  /**
   * The next payload slice of buf[pos, end), advancing `pos`; null when the bytes up to
   * `end` held no more payload (then check `done` and `error`).
   */
  read(buf: Buffer, end: number): Buffer | null {
    const body = this.#body;
    let pos = this.pos;
    while (pos < end && !body.done) {
      const remaining = body.dataRemaining;
      if (remaining > 0) {
        const take = Math.min(remaining, end - pos);
        body.skipData(take);
        this.pos = pos + take;
        return buf.subarray(pos, pos + take);
      }
      const wasInTrailers = body.inTrailers;
      const n = body.feedFraming(buf, pos, end);
      if (n < 0) break;
      if (wasInTrailers) (this.#trailerParts ??= []).push(Buffer.from(buf.subarray(pos, pos + n)));
      pos += n;
      if (n === 0) break;
    }
    this.pos = pos;
    if (body.done && this.#trailers === null) this.#trailers = parseTrailerSection(this.#trailerParts);
    return null;
  }
}
