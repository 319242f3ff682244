// Pieces of the start line shared by requests and responses: the empty lines that may
// precede it, the HTTP-version, the CRLF ending a line, and the cheap test for whether
// a head can be complete yet. Errors go into the FieldScan like the field scanner's.
import { C_DIGIT, CHAR, CR, LF } from './chars.js';
import type { H1ErrorCode } from './errors.js';
import { type FieldScan, SCAN_ERROR, SCAN_PARTIAL } from './fields.js';

const LF_CRLF = Buffer.from('\n\r\n');
const LF_LF = Buffer.from('\n\n');
const HTTP_SLASH = [72, 84, 84, 80, 47];
const DOT = 46;

/**
 * False when buf[start..] cannot hold the end of a head: no LF CRLF, and no LF LF that a
 * bare-LF sender would end with. Native searches, so waiting for the rest of a head
 * costs no byte-by-byte rescan.
 */
export function possibleHeadEnd(buf: Buffer, start: number): boolean {
  // The common case, a whole head ending the buffer, without a call into C++.
  const n = buf.length;
  if (n - start >= 4 && buf[n - 1] === LF && buf[n - 2] === CR && buf[n - 3] === LF && buf[n - 4] === CR) return true;
  return buf.indexOf(LF_CRLF, start) >= 0 || buf.indexOf(LF_LF, start) >= 0;
}

function fail(scan: FieldScan, code: H1ErrorCode, pos: number): number {
  scan.errorCode = code;
  scan.errorPos = pos;
  return SCAN_ERROR;
}

/** Skips CRLF pairs from `pos`: the offset of the first other byte, SCAN_PARTIAL or SCAN_ERROR (bare CR / LF). */
export function skipEmptyLines(buf: Buffer, pos: number, end: number, scan: FieldScan): number {
  while (pos < end && buf[pos] === CR) {
    if (pos + 1 >= end) return SCAN_PARTIAL;
    if (buf[pos + 1] !== LF) return fail(scan, 'bare-cr', pos);
    pos += 2;
  }
  if (pos >= end) return SCAN_PARTIAL;
  return buf[pos] === LF ? fail(scan, 'bare-lf', pos) : pos;
}

/** Reads `HTTP/d.d` at `pos`: 10 * major + minor, SCAN_PARTIAL or SCAN_ERROR ('bad-version'). */
export function parseVersion(buf: Buffer, pos: number, end: number, scan: FieldScan): number {
  for (let i = 0; i < 8; i++) {
    if (pos + i >= end) return SCAN_PARTIAL;
    const c = buf[pos + i]!;
    const ok = i < 5 ? c === HTTP_SLASH[i] : i === 6 ? c === DOT : (CHAR[c]! & C_DIGIT) !== 0;
    if (!ok) return fail(scan, 'bad-version', pos + i);
  }
  return 10 * (buf[pos + 5]! - 48) + (buf[pos + 7]! - 48);
}

/** Expects CRLF at `pos`: pos + 2, SCAN_PARTIAL, or SCAN_ERROR (bare CR, bare LF, or `otherwise` for any other byte). */
export function expectCrlf(buf: Buffer, pos: number, end: number, scan: FieldScan, otherwise: H1ErrorCode): number {
  if (pos >= end) return SCAN_PARTIAL;
  const c = buf[pos];
  if (c === LF) return fail(scan, 'bare-lf', pos);
  if (c !== CR) return fail(scan, otherwise, pos);
  if (pos + 1 >= end) return SCAN_PARTIAL;
  return buf[pos + 1] === LF ? pos + 2 : fail(scan, 'bare-cr', pos);
}
