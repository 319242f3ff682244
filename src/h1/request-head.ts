// parseRequestHead: a strict, resumable RFC 9112 request head parser. A connection keeps
// its received bytes in one Buffer and calls this after each `data` event with the
// offset where the message starts; `partial` costs a rescan next time, never a copy.
// Leading empty lines: RFC 9112 §2.2 lets a server ignore CRLFs before the request line
// (clients send one after a POST body); any number of CRLF pairs is skipped, counted in
// maxHeadBytes. A bare CR or LF there is an error like anywhere else.
import { C_TARGET, C_TOKEN, CHAR, CR, LF, SP } from './chars.js';
import { H1_PARTIAL, h1Error, type H1Error, type H1ErrorCode, type H1Partial } from './errors.js';
import { FieldScan, SCAN_ERROR, SCAN_PARTIAL, scanFields } from './fields.js';
import { DEFAULT_HEAD_LIMITS, H1Head, type HeadLimits, MF_CHNK, MF_CLEN, MF_TE, MF_UPGRADE, MF_VER_11 } from './head.js';
import { isHostValue, targetForm, type TargetForm } from './target.js';
import { expectCrlf, parseVersion, possibleHeadEnd, skipEmptyLines } from './start-line.js';

/** A complete request head; strings only for method and target, the rest read on demand. */
export class RequestHead extends H1Head {
  readonly method: string;
  /** The request-target as sent. */
  readonly target: string;
  readonly targetForm: TargetForm;
  /** Field index of the Host field, or -1 (HTTP/1.0 only). */
  readonly hostIndex: number;

  constructor(
    buf: Buffer,
    start: number,
    startLineEnd: number,
    end: number,
    scan: FieldScan,
    method: string,
    target: string,
    form: TargetForm,
  ) {
    super(buf, start, startLineEnd, end, scan.fields(), scan.flags, scan.contentLength);
    this.method = method;
    this.target = target;
    this.targetForm = form;
    this.hostIndex = scan.hostIndex;
  }

  /** The Host value, '' when absent. */
  get host(): string {
    return this.hostIndex < 0 ? '' : this.valueAt(this.hostIndex);
  }

  /** Every Cookie field joined with '; ' (RFC 9113 §8.2.3 style), or undefined. */
  get cookie(): string | undefined {
    const values = this.getAll('cookie');
    return values.length === 0 ? undefined : values.join('; ');
  }

  /** The Upgrade value (protocols asked for), or undefined. */
  get upgrade(): string | undefined {
    return this.get('upgrade');
  }
}

export type RequestHeadResult = { readonly kind: 'complete'; readonly head: RequestHead } | H1Partial | H1Error;

const SCAN = new FieldScan();

/**
 * Parses the request head starting at `buf[start]`; buf.length is the end of the bytes
 * received (pass a subarray for a fill level). Complete, partial, or an error with the
 * code, byte position and the status to answer (400, 431, 501, 505).
 */
export function parseRequestHead(buf: Buffer, start: number, limits: HeadLimits = DEFAULT_HEAD_LIMITS): RequestHeadResult {
  const tooLarge = buf.length - start >= limits.maxHeadBytes;
  // Nothing that can end a head yet: skip the scan (a slow client costs a memchr, not a parse).
  if (!tooLarge && !possibleHeadEnd(buf, start)) return H1_PARTIAL;
  const end = tooLarge ? start + limits.maxHeadBytes : buf.length;
  const incomplete = tooLarge ? fail('head-too-large', end) : H1_PARTIAL;

  let pos = skipEmptyLines(buf, start, end, SCAN);
  if (pos < 0) return pos === SCAN_PARTIAL ? incomplete : scanError();
  const lineStart = pos;
  while (pos < end && (CHAR[buf[pos]!]! & C_TOKEN) !== 0) pos++;
  if (pos >= end) return incomplete;
  if (pos === lineStart || buf[pos] !== SP) return fail('bad-method', pos);
  const method = methodString(buf, lineStart, pos);

  const targetStart = ++pos;
  while (pos < end && (CHAR[buf[pos]!]! & C_TARGET) !== 0) pos++;
  if (pos >= end) return incomplete;
  const targetEnd = pos;
  // A CR or LF here is HTTP/0.9's version-less line.
  if (buf[pos] !== SP) return fail(buf[pos] === CR || buf[pos] === LF ? 'bad-version' : 'bad-target', pos);
  if (targetEnd === targetStart) return fail('bad-target', pos);

  const version = parseVersion(buf, pos + 1, end, SCAN);
  if (version < 0) return version === SCAN_PARTIAL ? incomplete : scanError();
  const startLineEnd = pos + 9;
  const fieldsStart = expectCrlf(buf, startLineEnd, end, SCAN, 'bad-version');
  if (fieldsStart < 0) return fieldsStart === SCAN_PARTIAL ? incomplete : scanError();
  if (version !== 10 && version !== 11) return fail('unsupported-version', pos + 1);
  if (method === 'PRI') return fail('bad-method', lineStart); // the HTTP/2 preface's method, never an HTTP/1.x one
  const form = targetForm(buf, targetStart, targetEnd, method === 'CONNECT', method === 'OPTIONS');
  if (form === null) return fail('bad-target', targetStart);

  const headEnd = scanFields(buf, fieldsStart, end, limits.maxHeaders, SCAN);
  if (headEnd === SCAN_PARTIAL) return incomplete;
  if (headEnd === SCAN_ERROR) return scanError();
  const error = framingError(buf, version === 11, method === 'CONNECT', headEnd);
  if (error !== null) return error;
  if (version === 11) SCAN.flags |= MF_VER_11;
  const target = buf.toString('latin1', targetStart, targetEnd);
  return { kind: 'complete', head: new RequestHead(buf, lineStart, startLineEnd, headEnd, SCAN, method, target, form) };
}

/** The request rules on Host and framing (RFC 9112 §3.2, §6.1, §6.3); sets MF_CHNK and MF_UPGRADE. */
function framingError(buf: Buffer, http11: boolean, isConnect: boolean, headEnd: number): H1Error | null {
  if (SCAN.secondHostPos >= 0) return fail('duplicate-host', SCAN.secondHostPos);
  if (SCAN.hostIndex < 0) {
    if (http11) return fail('missing-host', headEnd - 2);
  } else if (!isHostValue(buf, SCAN.offsets[4 * SCAN.hostIndex + 2]!, SCAN.offsets[4 * SCAN.hostIndex + 3]!)) {
    return fail('bad-host', SCAN.offsets[4 * SCAN.hostIndex + 2]!);
  }
  const flags = SCAN.flags;
  if ((flags & MF_TE) !== 0) {
    if ((flags & MF_CLEN) !== 0) return fail('te-and-cl', Math.max(SCAN.tePos, SCAN.clPos));
    // §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing; §6.3: chunked must be last, once.
    if (!http11 || SCAN.teChunked !== 1 || !SCAN.teLastChunked) return fail('bad-transfer-encoding', SCAN.tePos);
    if (SCAN.teUnknownPos >= 0) return fail('unknown-transfer-coding', SCAN.teUnknownPos);
    SCAN.flags |= MF_CHNK;
  }
  // A CONNECT's bytes after the head are the tunnel (RFC 9110 §9.3.6): a body would be read two ways.
  if (isConnect && ((flags & MF_TE) !== 0 || SCAN.contentLength > 0)) return fail('connect-with-body', Math.max(SCAN.tePos, SCAN.clPos));
  if (SCAN.hasUpgradeField && SCAN.connectionUpgrade) SCAN.flags |= MF_UPGRADE;
  return null;
}

function scanError(): H1Error {
  return fail(SCAN.errorCode, SCAN.errorPos);
}

function fail(code: H1ErrorCode, pos: number): H1Error {
  return h1Error(code, pos, 'request');
}

/** The method as a string; the common ones are constants, so a GET allocates nothing here. */
function methodString(buf: Buffer, start: number, end: number): string {
  const length = end - start;
  const c = buf[start]!;
  if (length === 3 && c === 71 && buf[start + 1] === 69 && buf[start + 2] === 84) return 'GET';
  if (length === 4 && c === 80 && buf[start + 1] === 79 && buf[start + 2] === 83 && buf[start + 3] === 84) return 'POST';
  if (length === 4 && c === 72 && buf[start + 1] === 69 && buf[start + 2] === 65 && buf[start + 3] === 68) return 'HEAD';
  return buf.toString('latin1', start, end);
}
