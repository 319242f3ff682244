// Differential test of the response side: parseResponseHead + bodyKind + ChunkedBody
// against llhttp (strict) as node:http's client uses it, on generated and mutated
// responses to GET and HEAD. They must agree on accept / reject, the 1xx heads, status,
// fields and body; where not, Doorman is the stricter one for a reason listed here.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { MF_TE, MF_VER_11 } from '../../src/h1/head.js';
import { llhttpReadResponse, readResponse, type SeenResponse } from '../helpers/h1-response-reading.js';
import { mutate, mutation } from '../helpers/h1-messages.js';

/** Responses Doorman refuses and llhttp takes, by Doorman's error code, and why. */
const DOORMAN_STRICTER: Readonly<Record<string, string>> = {
  'bad-status': 'llhttp takes any three digits as a status (000-999) and any byte in the reason phrase',
  'unsupported-version': 'llhttp takes HTTP/0.9 and HTTP/2.0 status lines',
  'bad-transfer-encoding': 'llhttp takes chunked twice, an empty Transfer-Encoding and empty list elements',
  'chunk-size-too-large': 'llhttp reads up to 16 hex digits',
  'bad-chunk-extension': 'llhttp accepts empty extension names and values',
  'forbidden-trailer': 'llhttp accepts Host, Connection and Upgrade as trailers',
};

/** True when Doorman's bare CR / LF error lies in a status line or the empty lines before one. */
function inStatusLine(bytes: Buffer, pos: number | undefined): boolean {
  if (pos === undefined) return false;
  const lineStart = bytes.lastIndexOf(10, pos - 1) + 1;
  return bytes.toString('latin1', lineStart, lineStart + 5) === 'HTTP/' || /^[\r\n]*$/.test(bytes.toString('latin1', lineStart, pos));
}

function allowed(bytes: Buffer, mine: SeenResponse, node: SeenResponse): boolean {
  const head = mine.head;
  // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 is faulty framing; Doorman reads to the close, llhttp decodes chunked.
  if (head !== undefined && (head.flags & MF_TE) !== 0 && (head.flags & MF_VER_11) === 0) return true;
  if (mine.error !== null && !mine.complete && node.complete) {
    if (DOORMAN_STRICTER[mine.error] !== undefined) return true;
    // llhttp skips CR and LF before a status line, and before 9.4.2 ends a status line with CR CR or a lone CR.
    return /^bare-(lf|cr)$/.test(mine.error) && inStatusLine(bytes, mine.errorPos);
  }
  // llhttp refuses any repeated Content-Length; RFC 9110 §8.6 lets equal ones count as one.
  if (node.error === 'HPE_UNEXPECTED_CONTENT_LENGTH' && head !== undefined && head.getAll('content-length').length > 1) return true;
  return false;
}

function disagreement(bytes: Buffer, mine: SeenResponse, node: SeenResponse): string | null {
  if (mine.complete !== node.complete) return allowed(bytes, mine, node) ? null : `complete: ${mine.complete} vs ${node.complete}`;
  if (!mine.complete) return null; // both refuse
  if (JSON.stringify(mine.informational) !== JSON.stringify(node.informational)) return '1xx heads differ';
  if (mine.status !== node.status || JSON.stringify(mine.rawHeaders) !== JSON.stringify(node.rawHeaders)) return 'heads differ';
  if (!mine.body.equals(node.body)) return allowed(bytes, mine, node) ? null : 'bodies differ';
  return null;
}

const response = fc
  .record({
    informational: fc.constantFrom('', 'HTTP/1.1 100 Continue\r\n\r\n', 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n'),
    version: fc.constantFrom('1.1', '1.1', '1.0'),
    status: fc.constantFrom(200, 201, 204, 304, 404, 500),
    reason: fc.constantFrom(' OK', '', ' ', ' Not Found'),
    fields: fc.array(fc.constantFrom('Server: x\r\n', 'Connection: close\r\n', 'Set-Cookie: a=b\r\n', 'X:\r\n'), { maxLength: 3 }),
    body: fc.constantFrom(
      ['', ''],
      ['Content-Length: 5\r\n', 'hello'],
      ['Content-Length: 0\r\n', ''],
      ['Transfer-Encoding: chunked\r\n', '5;a=b\r\nhello\r\n0\r\nX-T: 1\r\n\r\n'],
      ['Transfer-Encoding: gzip, chunked\r\n', '3\r\nabc\r\n0\r\n\r\n'],
      ['Transfer-Encoding: chunked, gzip\r\n', 'rest of the stream'],
    ),
  })
  .map((r) => `${r.informational}HTTP/${r.version} ${r.status}${r.reason}\r\n${r.fields.join('')}${r.body[0]}\r\n${r.body[1]}`);

const SEED = Number(process.env.H1_FUZZ_SEED ?? 1307);
const RUNS = Number(process.env.H1_FUZZ_RUNS ?? 600);

describe('Doorman h1 responses vs llhttp (strict)', () => {
  it('agrees on generated and mutated responses to GET and HEAD, or Doorman is the stricter', async () => {
    const mutated = fc
      .tuple(response, fc.array(mutation, { maxLength: 2 }), fc.constantFrom('GET', 'GET', 'HEAD'))
      .map(([text, ms, method]) => [ms.reduce(mutate, text), method] as const);
    await fc.assert(
      fc.asyncProperty(mutated, async ([text, method]) => {
        const bytes = Buffer.from(text, 'latin1');
        const mine = readResponse(bytes, method);
        const node = await llhttpReadResponse(bytes, method);
        const why = disagreement(bytes, mine, node);
        if (why !== null) {
          const show = (seen: SeenResponse) => JSON.stringify({ ...seen, head: undefined, body: seen.body.toString('latin1') });
          throw new Error(`${why}\n${method} ${JSON.stringify(text)}\nDoorman: ${show(mine)}\nllhttp: ${show(node)}`);
        }
      }),
      { seed: SEED, numRuns: RUNS / 2, plugins: [fc.interruptAfterTimeLimit(20_000)] },
    );
  });
});
