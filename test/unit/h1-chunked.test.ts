// ChunkedBody validates a chunked body while it streams through: tables of valid and
// broken bodies, each also fed one byte at a time (every state must resume anywhere),
// and the Content-Length / until-close counters.
import { describe, expect, it } from 'vitest';
import { LengthBody, UntilCloseBody } from '../../src/h1/body-scanner.js';
import { ChunkedBody, type ChunkedLimits } from '../../src/h1/chunked.js';
import type { H1ErrorCode } from '../../src/h1/errors.js';

interface Outcome {
  consumed: number;
  done: boolean;
  error: { code: H1ErrorCode; pos: number } | null;
}

/** Feeds `text` in pieces of `step` bytes (0: whole), stopping at the end of the body or an error. */
function scan(text: string, step = 0, limits?: ChunkedLimits): Outcome {
  const buf = Buffer.from(text, 'latin1');
  const body = new ChunkedBody(limits);
  let consumed = 0;
  for (let start = 0; start < buf.length && !body.done;) {
    const end = step === 0 ? buf.length : Math.min(buf.length, start + step);
    const n = body.feed(buf, start, end);
    if (n < 0) return { consumed, done: false, error: body.error };
    consumed += n;
    if (n < end - start) break;
    start = end;
  }
  return { consumed, done: body.done, error: body.error };
}

const VALID: [string, string][] = [
  ['one chunk', '5\r\nhello\r\n0\r\n\r\n'],
  ['several chunks, upper and lower hex', 'A\r\n0123456789\r\nb\r\nhello world\r\n0\r\n\r\n'],
  ['an empty body', '0\r\n\r\n'],
  ['13 hex digits with leading zeros', '0000000000005\r\nhello\r\n0\r\n\r\n'],
  ['extensions: token, bare name, quoted with a quoted-pair', '5;a=b;c;d="x\\"y; z"\r\nhello\r\n0;last\r\n\r\n'],
  ['a quoted value with tabs and obs-text', '1;q="\t\xe9"\r\nx\r\n0\r\n\r\n'],
  ['trailers', '0\r\nX-Checksum: abc\r\nEmpty:\r\nY:  v \t\r\n\r\n'],
  ['trailers named like forbidden ones but not', '0\r\nContent-Length-X: 1\r\nHos: a\r\nUpgrades: x\r\n\r\n'],
  ['data holding CRLF and "0\\r\\n\\r\\n"', '9\r\n\r\n0\r\n\r\n\r\n\r\n0\r\n\r\n'],
];

describe('ChunkedBody accepts', () => {
  it.each(VALID)('%s, whole and byte by byte, stopping at its end', (_name, text) => {
    const whole = scan(text + 'GET / HTTP/1.1\r\n');
    expect(whole).toEqual({ consumed: text.length, done: true, error: null });
    expect(scan(text + 'NEXT', 1)).toEqual(whole);
    expect(scan(text + 'NEXT', 3)).toEqual(whole);
  });

  it('returns 0 once done', () => {
    const body = new ChunkedBody();
    const buf = Buffer.from('0\r\n\r\nmore');
    expect(body.feed(buf, 0, buf.length)).toBe(5);
    expect(body.feed(buf, 5, buf.length)).toBe(0);
  });

  it('a 13-digit size is counted exactly (no rounding)', () => {
    const body = new ChunkedBody();
    const head = Buffer.from('fffffffffffff\r\n');
    expect(body.feed(head, 0, head.length)).toBe(head.length);
    const data = Buffer.alloc(1 << 16);
    let total = 0;
    for (let i = 0; i < 8; i++) total += body.feed(data, 0, data.length);
    expect(total).toBe(8 << 16);
    expect(body.done).toBe(false);
  });
});

/** [what, body, code, position] */
const ERRORS: [string, string, H1ErrorCode, number][] = [
  ['a huge size ffffffffffffffff', 'ffffffffffffffff\r\n', 'chunk-size-too-large', 13],
  ['14 digits even with leading zeros', '00000000000005\r\nhello\r\n0\r\n\r\n', 'chunk-size-too-large', 13],
  ['a size with leading spaces', '  5\r\nhello\r\n0\r\n\r\n', 'bad-chunk-size', 0],
  ['a 0x prefix', '0x5\r\nhello\r\n0\r\n\r\n', 'bad-chunk-size', 1],
  ['a space after the size', '5 \r\nhello\r\n0\r\n\r\n', 'bad-chunk-size', 1],
  ['a tab after the size', '5\t\r\nhello\r\n0\r\n\r\n', 'bad-chunk-size', 1],
  ['a negative size', '-5\r\nhello\r\n0\r\n\r\n', 'bad-chunk-size', 0],
  ['an empty size line', '\r\n5\r\nhello\r\n0\r\n\r\n', 'bad-chunk-size', 0],
  ['a non-hex size', 'g\r\n', 'bad-chunk-size', 0],
  ['a bare LF after the size', '5\nhello\r\n0\r\n\r\n', 'bare-lf', 1],
  ['a bare CR after the size', '5\rhello\r\n0\r\n\r\n', 'bare-cr', 2],
  ['data longer than its size (missing CRLF after data)', '5\r\nhelloX\r\n0\r\n\r\n', 'bad-chunk-data-end', 8],
  ['data shorter than its size (its CR taken as data)', '5\r\nhell\r\n0\r\n\r\n', 'bare-lf', 8],
  ['a bare LF after data', '5\r\nhello\n0\r\n\r\n', 'bare-lf', 8],
  ['a bare CR after data', '5\r\nhello\rX0\r\n\r\n', 'bare-cr', 9],
  ['a space before an extension', '5 ;a=b\r\nhello\r\n0\r\n\r\n', 'bad-chunk-size', 1],
  ['a space after ;', '5; a=b\r\nhello\r\n0\r\n\r\n', 'bad-chunk-extension', 2],
  ['a space around =', '5;a =b\r\nhello\r\n0\r\n\r\n', 'bad-chunk-extension', 3],
  ['an empty extension name', '5;=b\r\nhello\r\n0\r\n\r\n', 'bad-chunk-extension', 2],
  ['an empty extension', '5;;a\r\nhello\r\n0\r\n\r\n', 'bad-chunk-extension', 2],
  ['an empty extension value', '5;a=\r\nhello\r\n0\r\n\r\n', 'bad-chunk-extension', 4],
  ['a CR in a quoted value', '5;a="x\r\nhello\r\n0\r\n\r\n', 'bad-chunk-extension', 6],
  ['text after a quoted value', '5;a="x"y\r\nhello\r\n0\r\n\r\n', 'bad-chunk-extension', 7],
  ['a quoted-pair of a control byte', '5;a="\\\x01"\r\nhello\r\n0\r\n\r\n', 'bad-chunk-extension', 6],
  ['a non-token extension byte', '5;a@b\r\nhello\r\n0\r\n\r\n', 'bad-chunk-extension', 3],
  ['a bare LF after an extension', '5;a=b\nhello\r\n0\r\n\r\n', 'bare-lf', 5],
  ['a bare LF after a bare extension name', '5;a\nhello\r\n0\r\n\r\n', 'bare-lf', 3],
  ['a bare LF after a quoted value', '5;a="b"\nhello\r\n0\r\n\r\n', 'bare-lf', 7],
  ['a bare CR after a quoted value', '5;a="b"\rhello\r\n0\r\n\r\n', 'bare-cr', 8],
  ['a quoted value followed by another extension', '5;a="b";c@\r\nhello\r\n0\r\n\r\n', 'bad-chunk-extension', 9],
  ['no final CRLF but a bare LF', '0\r\n\n', 'bare-lf', 3],
  ['a bare CR ending the body', '0\r\n\rX', 'bare-cr', 4],
  ['trailer obs-fold', '0\r\nX: a\r\n b\r\n\r\n', 'obs-fold', 9],
  ['a trailer with a space before the colon', '0\r\nX : a\r\n\r\n', 'bad-field-name', 4],
  ['a trailer without a colon', '0\r\nX\r\n\r\n', 'bad-field-name', 4],
  ['a trailer starting with a non-token byte', '0\r\n:a\r\n\r\n', 'bad-field-name', 3],
  ['a NUL in a trailer value', '0\r\nX: a\x00\r\n\r\n', 'bad-field-value', 7],
  ['a bare LF ending a trailer', '0\r\nX: a\n\r\n', 'bare-lf', 7],
  ['a bare CR ending a trailer', '0\r\nX: a\rb\r\n\r\n', 'bare-cr', 8],
  ['a Content-Length trailer', '0\r\nContent-Length: 5\r\n\r\n', 'forbidden-trailer', 17],
  ['a Transfer-Encoding trailer', '0\r\ntransfer-encoding: chunked\r\n\r\n', 'forbidden-trailer', 20],
  ['a Host trailer', '0\r\nHOST: a\r\n\r\n', 'forbidden-trailer', 7],
  ['a Connection trailer', '0\r\nConnection: close\r\n\r\n', 'forbidden-trailer', 13],
  ['an Upgrade trailer', '0\r\nUpgrade: h2c\r\n\r\n', 'forbidden-trailer', 10],
];

describe('ChunkedBody rejects', () => {
  it.each(ERRORS)('%s, whole and byte by byte', (_name, text, code, pos) => {
    expect(scan(text).error).toEqual({ code, pos });
    expect(scan(text, 1).error).toEqual({ code, pos });
  });

  it('a size line past maxChunkLineBytes, and not one byte before', () => {
    const limits = { maxChunkLineBytes: 8, maxTrailerBytes: 100 };
    expect(scan('5;abcdef\r\nhello\r\n0\r\n\r\n', 1, limits).done).toBe(true);
    expect(scan('5;abcdefg\r\nhello\r\n0\r\n\r\n', 1, limits).error).toEqual({ code: 'chunk-line-too-long', pos: 9 });
  });

  it('a trailer section past maxTrailerBytes, and not one byte before', () => {
    const limits = { maxChunkLineBytes: 100, maxTrailerBytes: 10 };
    expect(scan('0\r\nX: 123\r\n\r\n', 1, limits).done).toBe(true);
    expect(scan('0\r\nX: 1234\r\n\r\n', 1, limits).error).toEqual({ code: 'trailers-too-large', pos: 13 });
  });

  it('stays failed', () => {
    const body = new ChunkedBody();
    const buf = Buffer.from('x');
    expect(body.feed(buf, 0, 1)).toBe(-1);
    expect(body.feed(Buffer.from('0\r\n\r\n'), 0, 5)).toBe(-1);
    expect(body.done).toBe(false);
  });
});

describe('LengthBody and UntilCloseBody', () => {
  it('counts exactly length bytes across feeds', () => {
    const body = new LengthBody(5);
    const buf = Buffer.from('helloGET');
    expect(body.feed(buf, 0, 3)).toBe(3);
    expect([body.done, body.remaining]).toEqual([false, 2]);
    expect(body.feed(buf, 3, 8)).toBe(2);
    expect([body.done, body.error]).toEqual([true, null]);
    expect(body.feed(buf, 5, 8)).toBe(0);
    expect(new LengthBody(0).done).toBe(true);
  });

  it('refuses a length that is not a safe non-negative integer', () => {
    expect(() => new LengthBody(-1)).toThrow(RangeError);
    expect(() => new LengthBody(2 ** 53)).toThrow(RangeError);
  });

  it('until close takes everything and never ends', () => {
    const body = new UntilCloseBody();
    expect(body.feed(Buffer.from('abc'), 1, 3)).toBe(2);
    expect([body.done, body.error]).toEqual([false, null]);
  });
});

describe('ChunkedBody decoding into a sink', () => {
  it('hands over exactly the payload, as slices of the buffers fed, at any split', () => {
    const wire = Buffer.from('5;a=b\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-T: 1\r\n\r\nNEXT');
    for (let split = 0; split <= wire.length; split++) {
      const parts: Buffer[] = [];
      const body = new ChunkedBody(undefined, { payload: (buf, start, end) => parts.push(buf.subarray(start, end)) });
      const first = wire.subarray(0, split);
      const second = wire.subarray(split);
      const taken = body.feed(first, 0, first.length);
      const rest = body.done ? 0 : body.feed(second, 0, second.length);
      expect(taken + rest).toBe(wire.length - 4);
      expect(body.done).toBe(true);
      expect(Buffer.concat(parts).toString()).toBe('hello world');
      for (const part of parts) expect(part.buffer === first.buffer || part.buffer === second.buffer).toBe(true);
    }
  });
});
