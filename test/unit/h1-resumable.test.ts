// Resumability: a connection calls the parser again with more bytes after each `data`
// event, so for any message cut at any points, every call before the head is complete
// must say partial (or already give the final error), and the first call that has the
// whole head must give exactly what one call on the whole message gives. The same for
// the chunked scanner fed in pieces.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChunkedBody } from '../../src/h1/chunked.js';
import type { H1Head } from '../../src/h1/head.js';
import { parseRequestHead } from '../../src/h1/request-head.js';
import { parseResponseHead } from '../../src/h1/response-head.js';
import { mutatedRequest, mutation, mutate, validRequest } from '../helpers/h1-messages.js';

const SEED = Number(process.env.H1_FUZZ_SEED ?? 1307);
const RUNS = 300;

type Parse = typeof parseRequestHead | typeof parseResponseHead;

function summary(result: ReturnType<Parse>): unknown {
  if (result.kind !== 'complete') return result;
  const head: H1Head = result.head;
  return { ...(result.head as object), buf: undefined, fields: Array.from(head.fields) };
}

/**
 * Cuts `text` at `cuts` and parses each growing prefix as a connection would. Checked a
 * second time after two empty lines: their LF CR LF passes the parsers' quick end test,
 * so every prefix gets the full scan and its own partial paths are exercised too.
 */
function checkPieces(parse: Parse, text: string, cuts: number[]): void {
  checkPrefixes(parse, text, cuts);
  checkPrefixes(parse, '\r\n\r\n' + text, cuts);
}

function checkPrefixes(parse: Parse, text: string, cuts: number[]): void {
  const buf = Buffer.from(text, 'latin1');
  const whole = summary(parse(buf, 0));
  const ends = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  for (const end of [...ends, buf.length]) {
    const result = parse(buf.subarray(0, end), 0);
    if (result.kind === 'partial') {
      if (typeof whole === 'object' && whole !== null && 'end' in whole) expect(end).toBeLessThan(whole.end as number);
      else if (end === buf.length) expect(whole).toEqual({ kind: 'partial' });
      continue;
    }
    expect(summary(result)).toEqual(whole);
  }
}

const cuts = fc.array(fc.nat(), { maxLength: 8 });

const validResponse = fc
  .record({
    status: fc.integer({ min: 100, max: 599 }),
    reason: fc.constantFrom('', ' ', ' OK', ' Not Found'),
    fields: fc.array(
      fc.constantFrom('Content-Length: 5\r\n', 'Server: x\r\n', 'Transfer-Encoding: chunked\r\n', 'Connection: close\r\n', 'X:\r\n'),
      { maxLength: 4 },
    ),
  })
  .map((r) => `HTTP/1.1 ${r.status}${r.reason}\r\n${r.fields.join('')}\r\nbody`);

describe('parsers resume at any cut', () => {
  it('request heads, valid: partial until the head is whole, then identical', () => {
    fc.assert(
      fc.property(validRequest, cuts, (text, at) => checkPieces(parseRequestHead, text, at)),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('request heads, mutated: partial or already the final result', () => {
    fc.assert(
      fc.property(mutatedRequest, cuts, (text, at) => checkPieces(parseRequestHead, text, at)),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('response heads, valid and mutated', () => {
    const response = fc.tuple(validResponse, fc.array(mutation, { maxLength: 2 })).map(([text, ms]) => ms.reduce(mutate, text));
    fc.assert(
      fc.property(response, cuts, (text, at) => checkPieces(parseResponseHead, text, at)),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('chunked bodies fed in any pieces: same length, end and error as whole', () => {
    const chunkedBody = fc
      .tuple(
        validRequest.filter((t) => t.includes('Transfer-Encoding: chunked')),
        fc.array(mutation, { maxLength: 2 }),
      )
      .map(([text, ms]) => ms.reduce(mutate, text.slice(text.indexOf('\r\n\r\n') + 4) + 'GET /next'));
    const feed = (buf: Buffer, ends: number[]) => {
      const body = new ChunkedBody();
      let consumed = 0;
      let start = 0;
      for (const end of [...ends, buf.length]) {
        if (end < start) continue;
        const n = body.feed(buf, start, end);
        if (n < 0) return { error: body.error };
        consumed += n;
        if (body.done) break;
        start = end;
      }
      return { consumed, done: body.done };
    };
    fc.assert(
      fc.property(chunkedBody, cuts, (text, at) => {
        const buf = Buffer.from(text, 'latin1');
        const ends = [...new Set(at.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
        expect(feed(buf, ends)).toEqual(feed(buf, []));
        const oneByOne = Array.from({ length: buf.length }, (_, i) => i);
        expect(feed(buf, oneByOne)).toEqual(feed(buf, []));
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
