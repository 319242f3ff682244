// What a parsed head is: offsets into the connection's buffer plus the framing facts
// found while parsing (HAProxy's H1_MF_* bits). Field names and values stay bytes until
// someone asks for one by name, so forwarding a head costs no string per field.
import { asciiBytes, COMMA, equalsLower, HTAB, SP } from './chars.js';

/** A Content-Length field was present (its value is `contentLength`). */
export const MF_CLEN = 0x1;
/** The body is chunked: Transfer-Encoding ends with chunked, once. */
export const MF_CHNK = 0x2;
/** A Transfer-Encoding field was present (without MF_CHNK on a response: read until close). */
export const MF_TE = 0x4;
/** `Connection: close`. */
export const MF_CONN_CLOSE = 0x8;
/** `Connection: keep-alive`. */
export const MF_CONN_KEEP_ALIVE = 0x10;
/** An Upgrade field and an `upgrade` Connection token: the sender asks to switch protocols (or a 101 does). */
export const MF_UPGRADE = 0x20;
/** `Expect: 100-continue`. */
export const MF_EXPECT_CONTINUE = 0x40;
/** The message is HTTP/1.1 (else HTTP/1.0). */
export const MF_VER_11 = 0x80;

/** Bounds on a head; both errors answer 431. */
export interface HeadLimits {
  /** Bytes from the parse's start offset (leading empty lines included) to the end of the empty line. */
  readonly maxHeadBytes: number;
  /** Field lines. */
  readonly maxHeaders: number;
}

/** 64 KiB and 100 fields: HAProxy's tune.bufsize order and its default tune.http.maxhdr. */
export const DEFAULT_HEAD_LIMITS: HeadLimits = Object.freeze({ maxHeadBytes: 65536, maxHeaders: 100 });

/** True when the sender of a message with these flags keeps the connection open after it (RFC 9112 §9.3). */
export function wantsKeepAlive(flags: number): boolean {
  return (flags & MF_VER_11) !== 0 ? (flags & MF_CONN_CLOSE) === 0 : (flags & MF_CONN_KEEP_ALIVE) !== 0;
}

/**
 * A parsed head. `fields` holds four offsets per field line: name start, name end,
 * value start, value end (value without its surrounding whitespace). Field line `i`
 * occupies buf[nameStart(i), nameStart(i + 1)) with its CRLF, the last one up to
 * `end - 2`; the start line is buf[start, startLineEnd) followed by CRLF. So the head can
 * be re-sent as it is, or with lines left out, by copying slices.
 */
export class H1Head {
  /** The connection's buffer the offsets point into. */
  readonly buf: Buffer;
  /** First byte of the start line (after any skipped empty lines). */
  readonly start: number;
  /** Offset of the CR ending the start line. */
  readonly startLineEnd: number;
  /** Offset just past the empty line ending the head: where the body or the next message starts. */
  readonly end: number;
  readonly fields: readonly number[];
  /** MF_* bits. */
  readonly flags: number;
  /** The Content-Length value, or -1 when none was sent. */
  readonly contentLength: number;

  constructor(
    buf: Buffer,
    start: number,
    startLineEnd: number,
    end: number,
    fields: readonly number[],
    flags: number,
    contentLength: number,
  ) {
    this.buf = buf;
    this.start = start;
    this.startLineEnd = startLineEnd;
    this.end = end;
    this.fields = fields;
    this.flags = flags;
    this.contentLength = contentLength;
  }

  /** The number of field lines. */
  get fieldCount(): number {
    return this.fields.length >>> 2;
  }

  /** The name of field line `i`, as sent. */
  nameAt(i: number): string {
    return this.buf.toString('latin1', this.fields[4 * i], this.fields[4 * i + 1]);
  }

  /** The value of field line `i`, without surrounding whitespace (obs-text bytes as latin1). */
  valueAt(i: number): string {
    return this.buf.toString('latin1', this.fields[4 * i + 2], this.fields[4 * i + 3]);
  }

  /** The index of the first field line at or after `from` named `lowerName` (lower-case), or -1. Allocates nothing. */
  indexOf(lowerName: string, from = 0): number {
    const name = nameBytes(lowerName);
    const fields = this.fields;
    for (let i = 4 * from; i < fields.length; i += 4) {
      if (fields[i + 1]! - fields[i]! === name.length && equalsLower(this.buf, fields[i]!, name)) return i >>> 2;
    }
    return -1;
  }

  /** The value of the first field named `lowerName`, or undefined. */
  get(lowerName: string): string | undefined {
    const i = this.indexOf(lowerName);
    return i < 0 ? undefined : this.valueAt(i);
  }

  /** The values of every field named `lowerName`, in order. */
  getAll(lowerName: string): string[] {
    const values: string[] = [];
    for (let i = this.indexOf(lowerName); i >= 0; i = this.indexOf(lowerName, i + 1)) values.push(this.valueAt(i));
    return values;
  }

  /** The lower-cased tokens of every Connection field: the hop-by-hop fields a proxy removes besides the fixed list. */
  connectionTokens(): string[] {
    const tokens: string[] = [];
    const buf = this.buf;
    for (let i = this.indexOf('connection'); i >= 0; i = this.indexOf('connection', i + 1)) {
      const end = this.fields[4 * i + 3]!;
      let pos = this.fields[4 * i + 2]!;
      while (pos < end) {
        let stop = pos;
        while (stop < end && buf[stop] !== COMMA) stop++;
        let last = stop;
        while (last > pos && (buf[last - 1] === SP || buf[last - 1] === HTAB)) last--;
        while (pos < last && (buf[pos] === SP || buf[pos] === HTAB)) pos++;
        if (last > pos) tokens.push(buf.toString('latin1', pos, last).toLowerCase());
        pos = stop + 1;
      }
    }
    return tokens;
  }
}

// Lookups by name use byte arrays of the name, made once per distinct name.
const NAME_BYTES = new Map<string, Uint8Array>();

function nameBytes(lowerName: string): Uint8Array {
  let bytes = NAME_BYTES.get(lowerName);
  if (bytes === undefined) {
    bytes = asciiBytes(lowerName);
    if (NAME_BYTES.size < 256) NAME_BYTES.set(lowerName, bytes);
  }
  return bytes;
}
