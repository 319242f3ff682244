// ChunkedDecoder: payload and trailers out of chunked bodies, whole and split at every
// size, the framing errors of ChunkedBody, and the bytes after the body left alone.
import { describe, expect, it } from 'vitest';
import { ChunkedDecoder } from '../../src/h1/chunked-decoder.js';

interface Decoded {
  payload: string;
  trailers: string[];
  done: boolean;
  error: string | null;
  rest: string;
}

/** Feeds `text` in pieces of `step` bytes (0: whole), as separate buffers. */
function decode(text: string, step = 0): Decoded {
  const all = Buffer.from(text, 'latin1');
  const dec = new ChunkedDecoder();
  let payload = '';
  let rest = '';
  for (let start = 0; start < all.length;) {
    const end = step === 0 ? all.length : Math.min(all.length, start + step);
    const buf = Buffer.from(all.subarray(start, end));
    dec.pos = 0;
    for (let slice; (slice = dec.read(buf, buf.length)) !== null;) payload += slice.toString('latin1');
    if (dec.error) return { payload, trailers: [], done: false, error: dec.error.code, rest };
    if (dec.done) {
      rest = buf.toString('latin1', dec.pos) + all.toString('latin1', end);
      break;
    }
    start = end;
  }
  return { payload, trailers: dec.trailers, done: dec.done, error: null, rest };
}

const CASES: [string, string, string, string[]][] = [
  ['one chunk', '5\r\nhello\r\n0\r\n\r\n', 'hello', []],
  ['several chunks with extensions', 'A;x=y\r\n0123456789\r\nb\r\nhello world\r\n0;last\r\n\r\n', '0123456789hello world', []],
  ['an empty body', '0\r\n\r\n', '', []],
  ['payload holding CRLF and a fake last chunk', '9\r\n\r\n0\r\n\r\n\r\n\r\n0\r\n\r\n', '\r\n0\r\n\r\n\r\n', []],
  ['trailers', '3\r\nabc\r\n0\r\nX-Checksum: abc\r\nEmpty:\r\nY:  v \t\r\n\r\n', 'abc', ['X-Checksum', 'abc', 'Empty', '', 'Y', 'v']],
];

describe('ChunkedDecoder', () => {
  it.each(CASES)('%s, whole and split at every size', (_name, text, payload, trailers) => {
    for (const step of [0, 1, 2, 3, 7]) {
      expect(decode(text + 'NEXT', step)).toEqual({ payload, trailers, done: true, error: null, rest: 'NEXT' });
    }
  });

  it('returns payload slices of the buffer it is given, without copies', () => {
    const buf = Buffer.from('5\r\nhello\r\n0\r\n\r\n');
    const dec = new ChunkedDecoder();
    const slice = dec.read(buf, buf.length)!;
    expect(slice.buffer).toBe(buf.buffer);
    expect(slice.byteOffset).toBe(buf.byteOffset + 3);
  });

  it.each([
    ['a bad size', 'x\r\nhello\r\n', 'bad-chunk-size'],
    ['data not followed by CRLF', '5\r\nhelloX\r\n', 'bad-chunk-data-end'],
    ['a forbidden trailer', '0\r\nContent-Length: 5\r\n\r\n', 'forbidden-trailer'],
    ['a bare LF', '5\nhello', 'bare-lf'],
  ])('stops on %s', (_name, text, code) => {
    for (const step of [0, 1]) expect(decode(text, step).error).toBe(code);
  });
});
