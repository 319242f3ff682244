// Request messages for the h1 parser tests: a fast-check generator of valid ones, the
// smuggling shapes of RFC 9112 §6 / §11 and the CL.TE, TE.CL, TE.TE families as seeds,
// and byte mutations (insert, delete, replace, duplicate a line, change case, CR/LF
// variants) that turn them into near-misses.
import fc from 'fast-check';

const VISIBLE = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i));
const PATH_CHARS = VISIBLE.filter((c) => c !== '#');
const VALUE_CHARS = [...VISIBLE, ' ', '\t', '\xe9'];
const TOKEN_CHARS = Array.from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~");

const text = (chars: string[], min: number, max: number) =>
  fc.array(fc.constantFrom(...chars), { minLength: min, maxLength: max }).map((a) => a.join(''));

/** A field value without leading or trailing whitespace (both parsers trim it). */
const value = text(VALUE_CHARS, 0, 12).map((v) => v.trim());

const field = fc.oneof(
  fc.tuple(fc.constantFrom('Accept', 'User-Agent', 'x-trace', 'Cookie', 'Accept-Encoding', 'If-None-Match'), value),
  fc.tuple(text(TOKEN_CHARS, 1, 10), value),
  fc.tuple(fc.constant('Connection'), fc.constantFrom('keep-alive', 'close', 'x-foo, keep-alive', 'Keep-Alive')),
);

const chunk = fc.tuple(fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.constantFrom('', ';a', ';a=b', ';q="x y"', ';n=1;m'));

const body = fc.oneof(
  fc.constant({ framing: '', bytes: '' }),
  fc.uint8Array({ maxLength: 30 }).map((b) => {
    const bytes = Buffer.from(b).toString('latin1');
    return { framing: `Content-Length: ${bytes.length}\r\n`, bytes };
  }),
  fc
    .tuple(fc.array(chunk, { maxLength: 3 }), fc.constantFrom('', 'X-Sum: 1\r\n', 'A: b\r\nC:\r\n'), fc.boolean())
    .map(([chunks, trailers, upper]) => {
      let bytes = '';
      for (const [data, ext] of chunks) {
        const size = data.length.toString(16);
        bytes += `${upper ? size.toUpperCase() : size}${ext}\r\n${Buffer.from(data).toString('latin1')}\r\n`;
      }
      return { framing: 'Transfer-Encoding: chunked\r\n', bytes: `${bytes}0\r\n${trailers}\r\n` };
    }),
);

/** Valid HTTP/1.x requests, head and body, as latin1 strings. */
export const validRequest: fc.Arbitrary<string> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
    target: fc.oneof(
      text(PATH_CHARS, 0, 20).map((p) => '/' + p),
      text(PATH_CHARS, 0, 8).map((p) => 'http://a.example:8080/' + p),
    ),
    http11: fc.boolean(),
    host: fc.constantFrom('a.example', 'a.example:8443', '[::1]:80', '127.0.0.1'),
    fields: fc.array(field, { maxLength: 6 }),
    hostAt: fc.nat(),
    body: body,
    leadingCrlf: fc.constantFrom('', '', '', '\r\n'),
  })
  .map((r) => {
    const lines = r.fields.map(([name, v]) => `${name}: ${v}\r\n`);
    // HTTP/1.0 and chunked never go together (RFC 9112 §6.1): the 1.0 ones get a length instead.
    const bodyPart = !r.http11 && r.body.framing.startsWith('Transfer') ? { framing: '', bytes: '' } : r.body;
    lines.splice(r.hostAt % (lines.length + 1), 0, `Host: ${r.host}\r\n`);
    if (bodyPart.framing !== '') lines.push(bodyPart.framing);
    return `${r.leadingCrlf}${r.method} ${r.target} HTTP/1.${r.http11 ? 1 : 0}\r\n${lines.join('')}\r\n${bodyPart.bytes}`;
  });

const POST = 'POST / HTTP/1.1\r\nHost: a.example\r\n';

/** Smuggling and near-miss shapes, each a whole message with its body. */
export const SEEDS: readonly string[] = [
  'GET / HTTP/1.1\r\nHost: a.example\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n',
  POST + 'Content-Length: 5\r\n\r\nhello',
  POST + 'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: chunked\r\n\r\n5;a=b;c="d"\r\nhello\r\n0\r\nX-T: 1\r\n\r\n',
  POST + 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: chunked, identity\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding : chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding:\tchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: chunked\r\n\r\n0000000000000005\r\nhello\r\n0\r\n\r\n',
  POST + 'Content-Length: +5\r\n\r\nhello',
  POST + 'Content-Length: 5, 6\r\n\r\nhello',
  POST + 'Content-Length: 5\r\nContent-Length: 5\r\n\r\nhello',
  POST + 'Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!',
  POST + 'X: a\r\n b\r\nContent-Length: 5\r\n\r\nhello',
  'POST / HTTP/1.1\nHost: a.example\nContent-Length: 5\n\nhello',
  POST + 'X: a\x00b\r\nContent-Length: 5\r\n\r\nhello',
  POST + 'Transfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: chunked\r\n\r\n  5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n',
  POST + 'Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n',
  'GET http://a.example/p HTTP/1.1\r\nHost: b.example\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: a.example\r\n\r\n',
  'GET / HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nabc',
  'GET /chat HTTP/1.1\r\nHost: a.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
  'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n',
];

/** The request appended after every message, so both parsers must agree where the next one starts. */
export const NEXT_REQUEST = 'GET /next HTTP/1.1\r\nHost: n.example\r\n\r\n';

const INTERESTING = [
  ' ',
  '\t',
  '\r',
  '\n',
  '\x00',
  ':',
  ',',
  ';',
  '"',
  '\\',
  'a',
  'Z',
  '0',
  '9',
  'f',
  '#',
  '/',
  '@',
  '?',
  '=',
  '-',
  '\x7f',
  '\x80',
  '\xff',
  '\x0b',
];
const LINE_ENDS = ['\n', '\r', '\n\r', '\r\r\n', '\r\n\r\n', ''];

export interface Mutation {
  readonly op: 'insert' | 'delete' | 'replace' | 'duplicate-line' | 'case' | 'line-end';
  readonly at: number;
  readonly pick: number;
}

export const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('insert', 'delete', 'replace', 'duplicate-line', 'case', 'line-end'),
  at: fc.nat(),
  pick: fc.nat(),
});

/** Applies one mutation to a message. */
export function mutate(message: string, m: Mutation): string {
  const at = m.at % (message.length + 1);
  const byte = INTERESTING[m.pick % INTERESTING.length]!;
  switch (m.op) {
    case 'insert':
      return message.slice(0, at) + byte + message.slice(at);
    case 'delete':
      return message.slice(0, at) + message.slice(at + 1);
    case 'replace':
      return message.slice(0, at) + byte + message.slice(at + 1);
    case 'duplicate-line': {
      const start = message.lastIndexOf('\r\n', at - 1) + 2;
      const end = message.indexOf('\r\n', start);
      if (start < 2 || end < 0) return message;
      return message.slice(0, end + 2) + message.slice(start, end + 2) + message.slice(end + 2);
    }
    case 'case': {
      const part = message.slice(at, at + 8);
      const flipped = m.pick % 2 === 0 ? part.toUpperCase() : part.toLowerCase();
      return message.slice(0, at) + flipped + message.slice(at + 8);
    }
    case 'line-end': {
      const crlf = message.indexOf('\r\n', at);
      if (crlf < 0) return message;
      return message.slice(0, crlf) + LINE_ENDS[m.pick % LINE_ENDS.length]! + message.slice(crlf + 2);
    }
  }
}

/** A seed or a valid request, then up to three mutations. */
export const mutatedRequest: fc.Arbitrary<string> = fc
  .tuple(fc.oneof(fc.constantFrom(...SEEDS), validRequest), fc.array(mutation, { maxLength: 3 }))
  .map(([message, mutations]) => mutations.reduce(mutate, message));
