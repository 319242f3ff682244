// Differential test: Doorman's h1 parsers against llhttp (Node's parser, strict mode) on
// generated and mutated requests with small bodies, each followed by a second request.
// They must agree on accept / reject and, where both accept, on method, target,
// version, field names and values, body bytes and where the next message starts. Where
// they differ, Doorman must be the stricter one, for one of the reasons listed below;
// llhttp may be the stricter one only for the two reasons listed after them.
// Fixed seed (H1_FUZZ_SEED to change it, H1_FUZZ_RUNS for more runs); fast-check prints
// the seed and the shrunk counterexample on failure.
import http from 'node:http';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { readConnection, type DoormanConnection, type SeenConnection, type SeenMessage } from '../helpers/h1-connection.js';
import { mutatedRequest, NEXT_REQUEST, SEEDS, validRequest } from '../helpers/h1-messages.js';
import { LlhttpOracle } from '../helpers/llhttp-oracle.js';
import type { RequestHead } from '../../src/h1/request-head.js';

/** Classes Doorman refuses and llhttp tolerates, by Doorman's error code, and why. */
const DOORMAN_STRICTER: Readonly<Record<string, string>> = {
  'missing-host': 'llhttp does not check Host; RFC 9112 §3.2 makes the server answer 400',
  'duplicate-host': 'llhttp does not check Host; two Hosts can route a request two ways',
  'bad-host': 'llhttp does not check Host; a Host with a path, userinfo or space is no host[:port]',
  'bad-target':
    "llhttp's URL grammar is looser: fragments (#), * with any method or followed by more, userinfo, an authority with bytes after it, several spaces before the target",
  'bad-version': 'llhttp accepts version-less HTTP/0.9 request lines and several spaces before the version',
  'unsupported-version': 'llhttp accepts HTTP/0.9 and HTTP/2.0 request lines; Doorman answers 505',
  'bad-transfer-encoding':
    'llhttp accepts Transfer-Encoding in HTTP/1.0 (RFC 9112 §6.1: faulty framing), an empty Transfer-Encoding, and empty list elements',
  'unknown-transfer-coding': 'llhttp accepts any token before chunked; Doorman only the registered codings (501 otherwise)',
  'connect-with-body': 'llhttp turns the bytes after a CONNECT head into the tunnel even with a Content-Length',
  'chunk-size-too-large': 'llhttp reads up to 16 hex digits (leading zeros included); Doorman 13, exact in a JavaScript number',
  'bad-chunk-extension': 'llhttp accepts empty extension names and values (`;;`, `;=v`, `;a=`)',
  'forbidden-trailer': 'llhttp accepts Host, Connection and Upgrade as trailers (and acts on Connection)',
};

/** Classes Doorman accepts and llhttp refuses: llhttp's method table, and equal repeated lengths. */
function llhttpStricter(code: string, head: RequestHead | undefined): string | null {
  if (head === undefined) return null;
  if ((code === 'HPE_INVALID_METHOD' || code === 'HPE_INVALID_CONSTANT') && !http.METHODS.includes(head.method)) {
    return 'llhttp knows a fixed list of methods; RFC 9110 §9.1 makes a method any token, and a proxy forwards extension methods';
  }
  if (code === 'HPE_UNEXPECTED_CONTENT_LENGTH' && head.getAll('content-length').length > 1) {
    return 'llhttp refuses any repeated Content-Length; RFC 9110 §8.6 lets a recipient take equal ones as one';
  }
  if (code === 'HPE_INVALID_CONTENT_LENGTH' && hasTab(head, 'content-length')) {
    return 'llhttp before 9.4 refuses a tab after the Content-Length digits (OWS allows it)';
  }
  return null;
}

/** True when a field line named `name` holds a tab (around its value: the value itself was trimmed). */
function hasTab(head: RequestHead, name: string): boolean {
  for (let i = head.indexOf(name); i >= 0; i = head.indexOf(name, i + 1)) {
    if (head.buf.subarray(head.fields[4 * i + 1], head.fields[4 * i + 4] ?? head.end).includes(9)) return true;
  }
  return false;
}

/** Why Doorman's refusal is allowed, or null. */
function doormanStricter(mine: DoormanConnection): string | null {
  const code = mine.error;
  if (code === null || code === 'eof') return null;
  if ((code === 'bare-lf' || code === 'bare-cr') && mine.betweenMessages)
    return 'llhttp skips any CR and LF between messages; Doorman only CRLF pairs';
  return DOORMAN_STRICTER[code] ?? null;
}

function sameHead(a: SeenMessage, b: SeenMessage): boolean {
  return (
    a.method === b.method && a.url === b.url && a.version === b.version && JSON.stringify(a.rawHeaders) === JSON.stringify(b.rawHeaders)
  );
}

/** null when the two readings agree, or differ only in an allowed way; else what differs. */
export function disagreement(mine: DoormanConnection, node: SeenConnection): string | null {
  for (let i = 0; ; i++) {
    const a = mine.messages[i];
    const b = node.messages[i];
    if (a === undefined && b === undefined) {
      if ((mine.error === null) === (node.error === null)) return null;
      if (mine.error !== null) return doormanStricter(mine) === null ? `Doorman refuses (${mine.error}), llhttp accepts` : null;
      return llhttpStricter(node.error!, mine.heads[i]) === null ? `llhttp refuses (${node.error}), Doorman accepts` : null;
    }
    if (b === undefined) {
      return llhttpStricter(node.error ?? '', mine.heads[i]) === null
        ? `message ${i}: llhttp refuses (${node.error}), Doorman accepts`
        : null;
    }
    if (a === undefined) {
      return doormanStricter(mine) === null ? `message ${i}: Doorman refuses (${mine.error}), llhttp accepts` : null;
    }
    if (!sameHead(a, b)) return `message ${i}: heads differ`;
    if (a.upgrade !== b.upgrade) return `message ${i}: upgrade ${a.upgrade} vs ${b.upgrade}`;
    if (a.upgrade) return null;
    if (a.complete !== b.complete) {
      if (!a.complete) return doormanStricter(mine) === null ? `message ${i}: Doorman refuses the body (${mine.error})` : null;
      return `message ${i}: llhttp refuses the body (${node.error}), Doorman accepts`;
    }
    if (!a.complete) return null; // both cut in the body: both refuse
    if (!a.body.equals(b.body)) return `message ${i}: bodies differ`;
    if (a.keepAlive !== b.keepAlive) {
      // llhttp before 9.4.2 misses a `close` followed by a tab and keeps alive where Doorman closes.
      if (!a.keepAlive && hasTab(mine.heads[i]!, 'connection')) return null;
      return `message ${i}: keep-alive ${a.keepAlive} vs ${b.keepAlive}`;
    }
    if (!a.keepAlive) return null;
  }
}

const oracle = new LlhttpOracle();
afterAll(() => oracle.close());

/** How often each outcome came up: printed with H1_FUZZ_VERBOSE=1, to see what the runs reached. */
const outcomes = new Map<string, number>();
afterAll(() => {
  if (process.env.H1_FUZZ_VERBOSE)
    console.log(
      [...outcomes]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${v}\t${k}`)
        .join('\n'),
    );
});

async function check(message: string): Promise<void> {
  const bytes = Buffer.from(message + NEXT_REQUEST, 'latin1');
  const mine = readConnection(bytes);
  const node = await oracle.read(bytes);
  const key = `${mine.messages.length} msgs ${mine.error ?? 'ok'} / ${node.messages.length} msgs ${node.error ?? 'ok'}`;
  outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  const why = disagreement(mine, node);
  if (why !== null) {
    const show = (seen: SeenConnection) => ({
      ...seen,
      heads: undefined,
      messages: seen.messages.map((m) => ({ ...m, body: m.body.toString('latin1') })),
    });
    throw new Error(`${why}\n${JSON.stringify(message)}\nDoorman: ${JSON.stringify(show(mine))}\nllhttp: ${JSON.stringify(show(node))}`);
  }
}

const SEED = Number(process.env.H1_FUZZ_SEED ?? 1307);
const RUNS = Number(process.env.H1_FUZZ_RUNS ?? 600);

describe('Doorman h1 vs llhttp (strict)', () => {
  it.each(SEEDS.map((seed) => [seed]))('agrees on %j', async (seed) => {
    await check(seed);
  });

  it('agrees on generated valid requests, both accepting them whole', async () => {
    await fc.assert(
      fc.asyncProperty(validRequest, async (message) => {
        await check(message);
        const bytes = Buffer.from(message + NEXT_REQUEST, 'latin1');
        expect(readConnection(bytes).error).toBeNull();
      }),
      { seed: SEED, numRuns: RUNS / 2, plugins: [fc.interruptAfterTimeLimit(20_000)] },
    );
  });

  it('agrees on mutated requests, or Doorman is the stricter for a listed reason', async () => {
    await fc.assert(fc.asyncProperty(mutatedRequest, check), { seed: SEED, numRuns: RUNS, plugins: [fc.interruptAfterTimeLimit(20_000)] });
  });
});
