// A chunked body scanner (RFC 9112 §7.1) that validates while the bytes stream through
// unchanged: a proxy forwards chunked bytes as they are, without re-chunking. A byte
// state machine for the size lines and the trailer section (resumable anywhere); chunk
// data is skipped in bulk. Strict like llhttp, and stricter where noted.
import { C_QDTEXT, C_TOKEN, C_VCHAR, CHAR, COLON, CR, HEX, HTAB, LF, LOWER, SEMICOLON, SP, asciiBytes } from './chars.js';
import type { H1ErrorCode } from './errors.js';
import type { BodyError, BodyScanner } from './body-scanner.js';

/** Bounds on what a proxy holds no buffer for but still counts. */
export interface ChunkedLimits {
  /** Bytes of one chunk-size line, extensions included, CRLF excluded. */
  readonly maxChunkLineBytes: number;
  /** Bytes of the trailer section, final CRLF included. */
  readonly maxTrailerBytes: number;
}

export const DEFAULT_CHUNKED_LIMITS: ChunkedLimits = Object.freeze({ maxChunkLineBytes: 4096, maxTrailerBytes: 16384 });

/** 13 hex digits stay below 2^52: sizes are exact JavaScript numbers (HAProxy caps sizes the same way). */
const MAX_SIZE_DIGITS = 13;

// States. The size line: digits, then `;name[=value]` extensions (token or quoted-string,
// no whitespace, like llhttp), CRLF. Then data and CRLF, or after size 0 the trailers.
const SIZE_FIRST = 0;
const SIZE = 1;
const EXT_NAME_FIRST = 2;
const EXT_NAME = 3;
const EXT_VALUE_FIRST = 4;
const EXT_VALUE = 5;
const EXT_QUOTED = 6;
const EXT_QUOTED_PAIR = 7;
const EXT_QUOTED_END = 8;
const SIZE_LF = 9;
const DATA = 10;
const DATA_CR = 11;
const DATA_LF = 12;
const TRAILER_LINE = 13;
const TRAILER_NAME = 14;
const TRAILER_VALUE = 15;
const TRAILER_LF = 16;
const FINAL_LF = 17;
const DONE = 18;
const FAILED = 19;

/** Trailer fields that frame or route a message: refused, a recipient must not act on them after the body. */
const FORBIDDEN_TRAILERS = ['content-length', 'transfer-encoding', 'host', 'connection', 'upgrade'].map(asciiBytes);
const ALL_FORBIDDEN = (1 << FORBIDDEN_TRAILERS.length) - 1;

/**
 * Receives the payload of a chunked body as it is scanned: slices of the buffer fed, never
 * copied (a front hands them on as the decoded body; the bytes must not be rewritten).
 */
export interface PayloadSink {
  payload(buf: Buffer, start: number, end: number): void;
  /** The trailer section's bytes as they are scanned (its final CRLF included), when the sink wants them. */
  trailerBytes?(buf: Buffer, start: number, end: number): void;
}

/** Scans one chunked body; make one per message. With a sink it also decodes: the sink gets each run of chunk data. */
export class ChunkedBody implements BodyScanner {
  readonly #limits: ChunkedLimits;
  readonly #sink: PayloadSink | null;
  #state = SIZE_FIRST;
  #size = 0;
  #digits = 0;
  #lineBytes = 0;
  #trailerBytes = 0;
  /** Position in the trailer name, and which forbidden names it may still be (bits of FORBIDDEN_TRAILERS). */
  #nameIndex = 0;
  #candidates = 0;
  #error: BodyError | null = null;

  constructor(limits: ChunkedLimits = DEFAULT_CHUNKED_LIMITS, sink: PayloadSink | null = null) {
    this.#limits = limits;
    this.#sink = sink;
  }

  get done(): boolean {
    return this.#state === DONE;
  }

  get error(): BodyError | null {
    return this.#error;
  }

  feed(buf: Buffer, start: number, end: number): number {
    return this.#scan(buf, start, end, false);
  }

  /**
   * Decoding mode (ChunkedDecoder): scans framing like feed but stops where chunk data
   * starts (then `dataRemaining` > 0: the caller takes the payload with `skipData`) and
   * where the trailer section starts (then `inTrailers`). Returns bytes consumed or -1.
   */
  feedFraming(buf: Buffer, start: number, end: number): number {
    return this.#scan(buf, start, end, true);
  }

  /** Payload bytes of the current chunk not yet taken; 0 outside chunk data. */
  get dataRemaining(): number {
    return this.#state === DATA ? this.#size : 0;
  }

  /** True while the scanner is in the trailer section (after the last chunk's size line). */
  get inTrailers(): boolean {
    return this.#state >= TRAILER_LINE && this.#state <= FINAL_LF;
  }

  /** Takes `n` payload bytes (at most `dataRemaining`) in decoding mode. */
  skipData(n: number): void {
    this.#size -= n;
    if (this.#size === 0) this.#state = DATA_CR;
  }

  #scan(buf: Buffer, start: number, end: number, framingOnly: boolean): number {
    let state = this.#state;
    if (state === FAILED) return -1;
    let pos = start;
    /** Where this call's part of the trailer section starts, -1 outside it. */
    let trailerFrom = state >= TRAILER_LINE && state <= FINAL_LF ? start : -1;
    while (pos < end && state !== DONE) {
      if (state === DATA) {
        if (framingOnly) break;
        const take = Math.min(this.#size, end - pos);
        if (this.#sink !== null && take > 0) this.#sink.payload(buf, pos, pos + take);
        pos += take;
        this.#size -= take;
        if (this.#size === 0) state = DATA_CR;
        continue;
      }
      const c = buf[pos]!;
      if (state < SIZE_LF) {
        // The line's bytes and its CR.
        if (++this.#lineBytes > this.#limits.maxChunkLineBytes + 1) return this.#fail('chunk-line-too-long', pos);
      } else if (state >= TRAILER_LINE && ++this.#trailerBytes > this.#limits.maxTrailerBytes) {
        return this.#fail('trailers-too-large', pos);
      }
      const next = this.#step(state, c);
      if (next === FAILED) return this.#fail(this.#stepError, pos);
      pos++;
      if (state === SIZE_LF && next === TRAILER_LINE) {
        if (framingOnly) {
          state = next;
          break;
        }
        trailerFrom = pos;
      }
      state = next;
    }
    this.#state = state;
    if (trailerFrom >= 0 && !framingOnly) this.#sink?.trailerBytes?.(buf, trailerFrom, pos);
    return pos - start;
  }

  #stepError: H1ErrorCode = 'bad-chunk-size';

  /** The state after byte `c`, or FAILED with the reason in #stepError. */
  #step(state: number, c: number): number {
    switch (state) {
      case SIZE_FIRST:
      case SIZE: {
        const digit = HEX[c]!;
        if (digit >= 0) {
          if (++this.#digits > MAX_SIZE_DIGITS) return this.#reject('chunk-size-too-large');
          this.#size = this.#size * 16 + digit;
          return SIZE;
        }
        if (state === SIZE_FIRST) return this.#reject('bad-chunk-size');
        return c === SEMICOLON ? EXT_NAME_FIRST : this.#lineEnd(c, 'bad-chunk-size');
      }
      case EXT_NAME_FIRST:
        return (CHAR[c]! & C_TOKEN) !== 0 ? EXT_NAME : this.#reject('bad-chunk-extension');
      case EXT_NAME:
        if ((CHAR[c]! & C_TOKEN) !== 0) return EXT_NAME;
        if (c === 61 /* = */) return EXT_VALUE_FIRST;
        return c === SEMICOLON ? EXT_NAME_FIRST : this.#lineEnd(c, 'bad-chunk-extension');
      case EXT_VALUE_FIRST:
        if (c === 34 /* " */) return EXT_QUOTED;
        return (CHAR[c]! & C_TOKEN) !== 0 ? EXT_VALUE : this.#reject('bad-chunk-extension');
      case EXT_VALUE:
        if ((CHAR[c]! & C_TOKEN) !== 0) return EXT_VALUE;
        return c === SEMICOLON ? EXT_NAME_FIRST : this.#lineEnd(c, 'bad-chunk-extension');
      case EXT_QUOTED:
        if (c === 34) return EXT_QUOTED_END;
        if (c === 92 /* \ */) return EXT_QUOTED_PAIR;
        return (CHAR[c]! & C_QDTEXT) !== 0 ? EXT_QUOTED : this.#reject('bad-chunk-extension');
      case EXT_QUOTED_PAIR:
        return (CHAR[c]! & C_VCHAR) !== 0 || c === SP || c === HTAB ? EXT_QUOTED : this.#reject('bad-chunk-extension');
      case EXT_QUOTED_END:
        return c === SEMICOLON ? EXT_NAME_FIRST : this.#lineEnd(c, 'bad-chunk-extension');
      case SIZE_LF:
        if (c !== LF) return this.#reject('bare-cr');
        if (this.#size > 0) return DATA;
        this.#trailerBytes = 0;
        return TRAILER_LINE;
      case DATA_CR:
        if (c === CR) return DATA_LF;
        return this.#reject(c === LF ? 'bare-lf' : 'bad-chunk-data-end');
      case DATA_LF:
        if (c !== LF) return this.#reject('bare-cr');
        this.#digits = 0;
        this.#lineBytes = 0;
        return SIZE_FIRST;
      case TRAILER_LINE:
        if (c === CR) return FINAL_LF;
        if ((CHAR[c]! & C_TOKEN) !== 0) {
          this.#nameIndex = 0;
          this.#candidates = ALL_FORBIDDEN;
          this.#matchName(c);
          return TRAILER_NAME;
        }
        return this.#reject(c === LF ? 'bare-lf' : c === SP || c === HTAB ? 'obs-fold' : 'bad-field-name');
      case TRAILER_NAME:
        if ((CHAR[c]! & C_TOKEN) !== 0) {
          this.#matchName(c);
          return TRAILER_NAME;
        }
        if (c !== COLON) return this.#reject('bad-field-name');
        return this.#isForbiddenName() ? this.#reject('forbidden-trailer') : TRAILER_VALUE;
      case TRAILER_VALUE:
        if ((CHAR[c]! & C_VCHAR) !== 0 || c === SP || c === HTAB) return TRAILER_VALUE;
        if (c === CR) return TRAILER_LF;
        return this.#reject(c === LF ? 'bare-lf' : 'bad-field-value');
      case TRAILER_LF:
        return c === LF ? TRAILER_LINE : this.#reject('bare-cr');
      default: // FINAL_LF
        return c === LF ? DONE : this.#reject('bare-cr');
    }
  }

  /** After a size or an extension: CR starts the line's end; anything else is `otherwise`. */
  #lineEnd(c: number, otherwise: H1ErrorCode): number {
    if (c === CR) return SIZE_LF;
    return this.#reject(c === LF ? 'bare-lf' : otherwise);
  }

  #matchName(c: number): void {
    const lower = LOWER[c]!;
    for (let i = 0; i < FORBIDDEN_TRAILERS.length; i++) {
      const name = FORBIDDEN_TRAILERS[i]!;
      if (this.#nameIndex >= name.length || name[this.#nameIndex] !== lower) this.#candidates &= ~(1 << i);
    }
    this.#nameIndex++;
  }

  #isForbiddenName(): boolean {
    for (let i = 0; i < FORBIDDEN_TRAILERS.length; i++) {
      if ((this.#candidates & (1 << i)) !== 0 && FORBIDDEN_TRAILERS[i]!.length === this.#nameIndex) return true;
    }
    return false;
  }

  #reject(code: H1ErrorCode): number {
    this.#stepError = code;
    return FAILED;
  }

  #fail(code: H1ErrorCode, pos: number): number {
    this.#state = FAILED;
    this.#error = { code, pos };
    return -1;
  }
}
