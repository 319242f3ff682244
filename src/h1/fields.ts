// The field section scanner shared by request and response heads (RFC 9112 §5): checks
// every field line, records its offsets, and interprets the few fields that frame the
// message (Content-Length, Transfer-Encoding, Connection, Upgrade, Expect, Host) into
// flag bits while it passes over them, so nothing is re-derived later.
import { asciiBytes, C_DIGIT, C_TOKEN, CHAR, COLON, COMMA, CR, equalsLower, HTAB, LF, SP } from './chars.js';
import type { H1ErrorCode } from './errors.js';
import { MF_CLEN, MF_CONN_CLOSE, MF_CONN_KEEP_ALIVE, MF_EXPECT_CONTINUE, MF_TE } from './head.js';

export const SCAN_PARTIAL = -1;
export const SCAN_ERROR = -2;

const HOST = asciiBytes('host');
const EXPECT = asciiBytes('expect');
const UPGRADE = asciiBytes('upgrade');
const CONNECTION = asciiBytes('connection');
const CONTENT_LENGTH = asciiBytes('content-length');
const TRANSFER_ENCODING = asciiBytes('transfer-encoding');
const CLOSE = asciiBytes('close');
const KEEP_ALIVE = asciiBytes('keep-alive');
const CONTINUE = asciiBytes('100-continue');
const CHUNKED = asciiBytes('chunked');
/** Transfer codings registered besides chunked (RFC 9112 §7): a proxy forwards them untouched. */
const KNOWN_CODINGS = ['gzip', 'x-gzip', 'deflate', 'compress', 'x-compress'].map(asciiBytes);

/** What a scan found. One instance is reused by every parse (they are synchronous), so a parse allocates only its result. */
export class FieldScan {
  count = 0;
  /** Four offsets per field; a plain array of small integers: slicing it is far cheaper than a typed array. */
  readonly offsets: number[] = [];
  flags = 0;
  contentLength = -1;
  /** Name offset of the first Content-Length / Transfer-Encoding field, for error positions. */
  clPos = -1;
  tePos = -1;
  /** How many `chunked` codings, whether the last coding was chunked, where the first unknown coding is. */
  teChunked = 0;
  teLastChunked = false;
  teUnknownPos = -1;
  hostIndex = -1;
  secondHostPos = -1;
  hasUpgradeField = false;
  connectionUpgrade = false;
  errorCode: H1ErrorCode = 'bad-field-name';
  errorPos = 0;

  reset(): void {
    this.count = 0;
    this.flags = 0;
    this.contentLength = -1;
    this.clPos = -1;
    this.tePos = -1;
    this.teChunked = 0;
    this.teLastChunked = false;
    this.teUnknownPos = -1;
    this.hostIndex = -1;
    this.secondHostPos = -1;
    this.hasUpgradeField = false;
    this.connectionUpgrade = false;
  }

  /** The offsets of the fields found, in an array of their own. */
  fields(): number[] {
    return this.offsets.slice(0, 4 * this.count);
  }
}

function reject(scan: FieldScan, code: H1ErrorCode, pos: number): false {
  scan.errorCode = code;
  scan.errorPos = pos;
  return false;
}

function fail(scan: FieldScan, code: H1ErrorCode, pos: number): number {
  reject(scan, code, pos);
  return SCAN_ERROR;
}

/**
 * Scans field lines from `pos` (the byte after the start line's CRLF) up to `end`.
 * Returns the offset just past the empty line ending the head, SCAN_PARTIAL when `end`
 * came first, or SCAN_ERROR with the code and position in `scan`.
 */
export function scanFields(buf: Buffer, pos: number, end: number, maxHeaders: number, scan: FieldScan): number {
  scan.reset();
  for (;;) {
    if (pos >= end) return SCAN_PARTIAL;
    let c = buf[pos]!;
    if (c === CR) {
      if (pos + 1 >= end) return SCAN_PARTIAL;
      return buf[pos + 1] === LF ? pos + 2 : fail(scan, 'bare-cr', pos);
    }
    if (c === LF) return fail(scan, 'bare-lf', pos);
    // Also covers whitespace between the start line and the first field (RFC 9112 §2.2).
    if (c === SP || c === HTAB) return fail(scan, 'obs-fold', pos);
    const nameStart = pos;
    while (pos < end && (CHAR[buf[pos]!]! & C_TOKEN) !== 0) pos++;
    if (pos >= end) return SCAN_PARTIAL;
    if (buf[pos] !== COLON || pos === nameStart) return fail(scan, 'bad-field-name', pos);
    const nameEnd = pos++;
    while (pos < end && (buf[pos] === SP || buf[pos] === HTAB)) pos++;
    const valueStart = pos;
    // field-vchar, SP and HTAB: stop at any other control byte or DEL.
    for (; pos < end; pos++) {
      c = buf[pos]!;
      if (c < 0x20 ? c !== HTAB : c === 0x7f) break;
    }
    if (pos >= end) return SCAN_PARTIAL;
    let valueEnd = pos;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === SP || buf[valueEnd - 1] === HTAB)) valueEnd--;
    if (c !== CR) return fail(scan, c === LF ? 'bare-lf' : 'bad-field-value', pos);
    if (pos + 1 >= end) return SCAN_PARTIAL;
    if (buf[pos + 1] !== LF) return fail(scan, 'bare-cr', pos);
    pos += 2;
    if (scan.count >= maxHeaders) return fail(scan, 'too-many-headers', nameStart);
    const at = 4 * scan.count;
    scan.offsets[at] = nameStart;
    scan.offsets[at + 1] = nameEnd;
    scan.offsets[at + 2] = valueStart;
    scan.offsets[at + 3] = valueEnd;
    if (!interpret(buf, nameStart, nameEnd - nameStart, valueStart, valueEnd, pos - 2, scan)) return SCAN_ERROR;
    scan.count++;
  }
}

/** Sets the facts a framing field carries; false (with the error in `scan`) when its value is invalid. */
function interpret(
  buf: Buffer,
  nameStart: number,
  nameLength: number,
  start: number,
  end: number,
  lineEnd: number,
  scan: FieldScan,
): boolean {
  switch (nameLength) {
    case 4:
      if (equalsLower(buf, nameStart, HOST)) {
        if (scan.hostIndex < 0) scan.hostIndex = scan.count;
        else if (scan.secondHostPos < 0) scan.secondHostPos = nameStart;
      }
      return true;
    case 6:
      if (equalsLower(buf, nameStart, EXPECT) && end - start === CONTINUE.length && equalsLower(buf, start, CONTINUE)) {
        scan.flags |= MF_EXPECT_CONTINUE;
      }
      return true;
    case 7:
      if (equalsLower(buf, nameStart, UPGRADE) && end > start) scan.hasUpgradeField = true;
      return true;
    case 10:
      if (equalsLower(buf, nameStart, CONNECTION)) connectionTokens(buf, start, end, scan);
      return true;
    case 14:
      return !equalsLower(buf, nameStart, CONTENT_LENGTH) || contentLength(buf, nameStart, start, end, scan);
    case 17:
      return !equalsLower(buf, nameStart, TRANSFER_ENCODING) || transferCodings(buf, nameStart, start, end, lineEnd, scan);
    default:
      return true;
  }
}

/** Content-Length = 1*DIGIT, at most 2^53 - 1; a repeated field must repeat the value. */
function contentLength(buf: Buffer, nameStart: number, start: number, end: number, scan: FieldScan): boolean {
  if (start === end) return reject(scan, 'bad-content-length', start);
  let value = 0;
  for (let pos = start; pos < end; pos++) {
    const c = buf[pos]!;
    if ((CHAR[c]! & C_DIGIT) === 0) return reject(scan, 'bad-content-length', pos);
    value = value * 10 + (c - 48);
    if (value > Number.MAX_SAFE_INTEGER) return reject(scan, 'bad-content-length', pos);
  }
  if ((scan.flags & MF_CLEN) !== 0) {
    return value === scan.contentLength || reject(scan, 'conflicting-content-length', nameStart);
  }
  scan.flags |= MF_CLEN;
  scan.contentLength = value;
  scan.clPos = nameStart;
  return true;
}

/**
 * Transfer-Encoding = 1#token (no parameters, no empty elements); repeated fields continue
 * one list. A tab after a final `chunked` is refused although OWS allows it: llhttp (Node,
 * undici) does not read that as chunked, so a client or server behind Doorman would frame
 * the message differently (a response: read until close).
 */
function transferCodings(buf: Buffer, nameStart: number, start: number, end: number, lineEnd: number, scan: FieldScan): boolean {
  if (scan.tePos < 0) scan.tePos = nameStart;
  scan.flags |= MF_TE;
  let pos = start;
  for (;;) {
    while (pos < end && (buf[pos] === SP || buf[pos] === HTAB)) pos++;
    const tokenStart = pos;
    while (pos < end && (CHAR[buf[pos]!]! & C_TOKEN) !== 0) pos++;
    if (pos === tokenStart) return reject(scan, 'bad-transfer-encoding', pos);
    const length = pos - tokenStart;
    while (pos < end && (buf[pos] === SP || buf[pos] === HTAB)) pos++;
    if (pos < end && buf[pos] !== COMMA) return reject(scan, 'bad-transfer-encoding', pos);
    const chunked = length === CHUNKED.length && equalsLower(buf, tokenStart, CHUNKED);
    if (chunked) scan.teChunked++;
    else if (scan.teUnknownPos < 0 && !isKnownCoding(buf, tokenStart, length)) scan.teUnknownPos = tokenStart;
    scan.teLastChunked = chunked;
    if (pos === end) {
      if (chunked) for (let i = tokenStart + length; i < lineEnd; i++) if (buf[i] === HTAB) return reject(scan, 'bad-transfer-encoding', i);
      return true;
    }
    pos++;
  }
}

function isKnownCoding(buf: Buffer, start: number, length: number): boolean {
  for (const coding of KNOWN_CODINGS) if (coding.length === length && equalsLower(buf, start, coding)) return true;
  return false;
}

/** Sets the close / keep-alive / upgrade facts of a Connection list; other tokens are read later if needed. */
function connectionTokens(buf: Buffer, start: number, end: number, scan: FieldScan): void {
  let pos = start;
  while (pos < end) {
    while (pos < end && (buf[pos] === SP || buf[pos] === HTAB)) pos++;
    const tokenStart = pos;
    while (pos < end && buf[pos] !== COMMA) pos++;
    let tokenEnd = pos;
    while (tokenEnd > tokenStart && (buf[tokenEnd - 1] === SP || buf[tokenEnd - 1] === HTAB)) tokenEnd--;
    const length = tokenEnd - tokenStart;
    if (length === CLOSE.length && equalsLower(buf, tokenStart, CLOSE)) scan.flags |= MF_CONN_CLOSE;
    else if (length === KEEP_ALIVE.length && equalsLower(buf, tokenStart, KEEP_ALIVE)) scan.flags |= MF_CONN_KEEP_ALIVE;
    else if (length === UPGRADE.length && equalsLower(buf, tokenStart, UPGRADE)) scan.connectionUpgrade = true;
    pos++;
  }
}
