// Trailer fields (RFC 9110 §6.5): which a proxy passes on, how a chunked body's trailer
// section reads as raw pairs, and how one is written after the last chunk.

/** A field name is a token. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A value byte no field may carry (a message splitting attempt). */
const UNSAFE_VALUE = /[\r\n\0]/;

/**
 * Fields that frame, route or belong to one connection: acted on before the content, so
 * never after it (RFC 9110 §6.5.1), and connection-specific in HTTP/2 (RFC 9113 §8.2.2).
 */
const FORBIDDEN = new Set([
  'content-length',
  'transfer-encoding',
  'host',
  'connection',
  'upgrade',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
]);

/** Why a trailer field is refused (a client sending it is answered as malformed), or null when it may pass. */
export function trailerFieldProblem(name: string, value: string): string | null {
  if (name.charCodeAt(0) === 58 /* ':' */) return `pseudo-header ${name} in trailers`;
  if (!TOKEN.test(name)) return 'invalid trailer field name';
  if (UNSAFE_VALUE.test(value)) return `invalid value of trailer ${name}`;
  if (FORBIDDEN.has(name.toLowerCase())) return `forbidden trailer ${name}`;
  return null;
}

/** The first problem of a list of trailer fields (raw pairs), or null. */
export function trailersProblem(pairs: readonly string[]): string | null {
  for (let i = 0; i < pairs.length; i += 2) {
    const problem = trailerFieldProblem(pairs[i]!, pairs[i + 1]!);
    if (problem !== null) return problem;
  }
  return null;
}

/** The field lines of a validated trailer section (its final CRLF included) as raw pairs; surrounding whitespace of values dropped. */
export function parseTrailerSection(parts: readonly Buffer[] | null): string[] {
  const pairs: string[] = [];
  if (parts === null) return pairs;
  const buf = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  let line = 0;
  while (line < buf.length) {
    const lineEnd = buf.indexOf(13, line);
    if (lineEnd <= line) break;
    const colon = buf.indexOf(58, line);
    let valueStart = colon + 1;
    let valueEnd = lineEnd;
    while (valueStart < valueEnd && (buf[valueStart] === 32 || buf[valueStart] === 9)) valueStart++;
    while (valueEnd > valueStart && (buf[valueEnd - 1] === 32 || buf[valueEnd - 1] === 9)) valueEnd--;
    pairs.push(buf.toString('latin1', line, colon), buf.toString('latin1', valueStart, valueEnd));
    line = lineEnd + 2;
  }
  return pairs;
}

/** The end of a chunked body: the last-chunk, the trailer fields (raw pairs) and the empty line. Fields that cannot be written are dropped. */
export function lastChunkWith(trailers: readonly string[] | undefined): string {
  if (trailers === undefined || trailers.length === 0) return '0\r\n\r\n';
  let text = '0\r\n';
  for (let i = 0; i < trailers.length; i += 2) {
    const name = trailers[i]!;
    const value = trailers[i + 1]!;
    if (!TOKEN.test(name) || UNSAFE_VALUE.test(value)) continue;
    text += `${name}: ${value}\r\n`;
  }
  return `${text}\r\n`;
}
