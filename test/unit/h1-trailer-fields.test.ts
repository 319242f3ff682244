// Trailer fields: which may pass a proxy (a table), and the trailer section a chunked
// scanner hands its sink, whole whatever the pieces the body arrives in (a property).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkedBody, type PayloadSink } from '../../src/h1/chunked.js';
import { lastChunkWith, parseTrailerSection, trailerFieldProblem } from '../../src/h1/trailer-fields.js';

describe('trailerFieldProblem', () => {
  it.each([
    ['x-checksum', 'abc', null],
    ['grpc-status', '0', null],
    [':path', '/', 'pseudo-header :path in trailers'],
    ['bad name', 'v', 'invalid trailer field name'],
    ['', 'v', 'invalid trailer field name'],
    ['x-a', 'a\r\nb', 'invalid value of trailer x-a'],
    ['x-a', 'a\0', 'invalid value of trailer x-a'],
    ['Content-Length', '3', 'forbidden trailer Content-Length'],
    ['transfer-encoding', 'chunked', 'forbidden trailer transfer-encoding'],
    ['HOST', 'a', 'forbidden trailer HOST'],
    ['connection', 'close', 'forbidden trailer connection'],
    ['keep-alive', '5', 'forbidden trailer keep-alive'],
    ['te', 'trailers', 'forbidden trailer te'],
    ['trailer', 'x', 'forbidden trailer trailer'],
    ['upgrade', 'h2c', 'forbidden trailer upgrade'],
  ])('%s: %s → %s', (name, value, problem) => {
    expect(trailerFieldProblem(name, value)).toBe(problem);
  });
});

/** Collects the payload and the trailer section as a front's sink does. */
class Sink implements PayloadSink {
  payloadBytes = 0;
  parts: Buffer[] = [];
  payload(_buf: Buffer, start: number, end: number): void {
    this.payloadBytes += end - start;
  }
  trailerBytes(buf: Buffer, start: number, end: number): void {
    this.parts.push(Buffer.from(buf.subarray(start, end)));
  }
}

describe('the trailer section of a chunked body', () => {
  const field = fc.tuple(fc.stringMatching(/^x-[a-z0-9]{1,8}$/), fc.stringMatching(/^[!-~]([ -~]{0,10}[!-~])?$/));

  it('reaches the sink whole, however the body is split', () => {
    fc.assert(
      fc.property(
        fc.array(field, { maxLength: 4 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 20 }),
        (fields, steps) => {
          const pairs = fields.flat();
          const text = `3\r\nabc\r\n${lastChunkWith(pairs)}NEXT`;
          const buf = Buffer.from(text, 'latin1');
          const sink = new Sink();
          const body = new ChunkedBody(undefined, sink);
          let pos = 0;
          for (let i = 0; pos < buf.length && !body.done; i++) {
            const end = Math.min(buf.length, pos + steps[i % steps.length]!);
            const taken = body.feed(buf, pos, end);
            expect(taken).toBeGreaterThanOrEqual(0);
            pos += taken;
          }
          expect(body.done).toBe(true);
          expect(buf.toString('latin1', pos)).toBe('NEXT');
          expect(sink.payloadBytes).toBe(3);
          expect(parseTrailerSection(sink.parts)).toEqual(pairs);
        },
      ),
    );
  });

  it('is written with unsafe fields left out', () => {
    expect(lastChunkWith(['x-a', '1', 'bad name', '2', 'x-b', 'a\r\nb'])).toBe('0\r\nx-a: 1\r\n\r\n');
    expect(lastChunkWith([])).toBe('0\r\n\r\n');
  });
});
