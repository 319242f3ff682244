// parseResponseHead: the server's side of parseRequestHead, with the same field rules.
// Differences (RFC 9112 §4, §6.1, §6.3): a status line instead of a request line; no
// Host rules; Transfer-Encoding without chunked last means "read until close" instead of
// an error, and so does any Transfer-Encoding in HTTP/1.0 (its framing is faulty: the
// connection is not reused). Every error is answered 502 by the proxy.
import { C_DIGIT, C_VCHAR, CHAR, CR, HTAB, SP } from './chars.js';
import { H1_PARTIAL, h1Error, type H1Error, type H1ErrorCode, type H1Partial } from './errors.js';
import { FieldScan, SCAN_ERROR, SCAN_PARTIAL, scanFields } from './fields.js';
import { DEFAULT_HEAD_LIMITS, H1Head, type HeadLimits, MF_CHNK, MF_CLEN, MF_TE, MF_UPGRADE, MF_VER_11 } from './head.js';
import { expectCrlf, parseVersion, possibleHeadEnd, skipEmptyLines } from './start-line.js';

/** A complete response head. */
export class ResponseHead extends H1Head {
  /** The status code, 100-599. */
  readonly status: number;
  readonly #reasonStart: number;

  constructor(buf: Buffer, start: number, startLineEnd: number, end: number, scan: FieldScan, status: number, reasonStart: number) {
    super(buf, start, startLineEnd, end, scan.fields(), scan.flags, scan.contentLength);
    this.status = status;
    this.#reasonStart = reasonStart;
  }

  /** The reason phrase as sent (may be empty). */
  get reason(): string {
    return this.buf.toString('latin1', this.#reasonStart, this.startLineEnd);
  }

  /** A 1xx other than 101: the proxy forwards it and parses the next head, which answers the same request. */
  get informational(): boolean {
    return this.status < 200 && this.status !== 101;
  }
}

export type ResponseHeadResult = { readonly kind: 'complete'; readonly head: ResponseHead } | H1Partial | H1Error;

const SCAN = new FieldScan();

/**
 * Parses the response head starting at `buf[start]`; buf.length is the end of the bytes
 * received. Complete, partial, or an error (status 502) with its code and byte position.
 * Leading CRLF pairs are skipped as for requests (a server that ends a body with an
 * extra CRLF still parses).
 */
export function parseResponseHead(buf: Buffer, start: number, limits: HeadLimits = DEFAULT_HEAD_LIMITS): ResponseHeadResult {
  const tooLarge = buf.length - start >= limits.maxHeadBytes;
  if (!tooLarge && !possibleHeadEnd(buf, start)) return H1_PARTIAL;
  const end = tooLarge ? start + limits.maxHeadBytes : buf.length;
  const incomplete = tooLarge ? fail('head-too-large', end) : H1_PARTIAL;

  const lineStart = skipEmptyLines(buf, start, end, SCAN);
  if (lineStart < 0) return lineStart === SCAN_PARTIAL ? incomplete : scanError();
  const version = parseVersion(buf, lineStart, end, SCAN);
  if (version < 0) return version === SCAN_PARTIAL ? incomplete : scanError();
  // status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ]; the second SP is often left out with the reason.
  let pos = lineStart + 8;
  for (let i = 0; i < 4; i++, pos++) {
    if (pos >= end) return incomplete;
    if (i === 0 ? buf[pos] !== SP : (CHAR[buf[pos]!]! & C_DIGIT) === 0) return fail('bad-status', pos);
  }
  const status = 100 * (buf[pos - 3]! - 48) + 10 * (buf[pos - 2]! - 48) + (buf[pos - 1]! - 48);
  if (pos >= end) return incomplete;
  if (buf[pos] === SP) pos++;
  else if (buf[pos] !== CR) return fail(buf[pos] === 10 ? 'bare-lf' : 'bad-status', pos);
  const reasonStart = pos;
  while (pos < end && ((CHAR[buf[pos]!]! & C_VCHAR) !== 0 || buf[pos] === SP || buf[pos] === HTAB)) pos++;
  const startLineEnd = pos;
  const fieldsStart = expectCrlf(buf, pos, end, SCAN, 'bad-status');
  if (fieldsStart < 0) return fieldsStart === SCAN_PARTIAL ? incomplete : scanError();
  if (version !== 10 && version !== 11) return fail('unsupported-version', lineStart);
  if (status < 100 || status > 599) return fail('bad-status', lineStart + 9);

  const headEnd = scanFields(buf, fieldsStart, end, limits.maxHeaders, SCAN);
  if (headEnd === SCAN_PARTIAL) return incomplete;
  if (headEnd === SCAN_ERROR) return scanError();
  const flags = SCAN.flags;
  if ((flags & MF_TE) !== 0) {
    if ((flags & MF_CLEN) !== 0) return fail('te-and-cl', Math.max(SCAN.tePos, SCAN.clPos));
    // RFC 9112 §7: chunked is applied once at most; anything else is read until close.
    if (SCAN.teChunked > 1) return fail('bad-transfer-encoding', SCAN.tePos);
    if (version === 11 && SCAN.teLastChunked) SCAN.flags |= MF_CHNK;
  }
  if (SCAN.hasUpgradeField && SCAN.connectionUpgrade) SCAN.flags |= MF_UPGRADE;
  if (version === 11) SCAN.flags |= MF_VER_11;
  return { kind: 'complete', head: new ResponseHead(buf, lineStart, startLineEnd, headEnd, SCAN, status, reasonStart) };
}

function scanError(): H1Error {
  return fail(SCAN.errorCode, SCAN.errorPos);
}

function fail(code: H1ErrorCode, pos: number): H1Error {
  return h1Error(code, pos, 'response');
}
