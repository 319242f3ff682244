// The head of a request as it leaves for an HTTP/1.1 server, built once as one buffer:
// request line, the exchange's raw header pairs (hop-by-hop already removed), the
// framing Doorman chooses (the client's Content-Length kept, else chunked for a body),
// Host when the client sent none, and the Upgrade pair for a tunnel request.

/** How the request body is delimited on the wire to the server. */
export type RequestFraming = 'none' | 'length' | 'chunked';

export interface UpstreamRequestHead {
  readonly bytes: Buffer;
  readonly framing: RequestFraming;
  /** The announced Content-Length with `length` framing, else -1. */
  readonly contentLength: number;
}

/** A method is a token; a target has no whitespace or controls; names are tokens; values have no CR, LF or NUL. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_TARGET = /[\x00-\x20\x7f]/;
const BAD_VALUE = /[\r\n\0]/;
const DIGITS = /^\d{1,15}$/;

/**
 * Builds the head, or returns the reason it cannot be sent (a header no HTTP/1.1 message
 * can carry): the caller answers that as the client's fault, not the server's.
 */
export function buildRequestHead(
  method: string,
  path: string,
  headers: readonly string[],
  hasBody: boolean,
  upgrade: string | null,
  defaultHost: string,
): UpstreamRequestHead | string {
  if (!TOKEN.test(method)) return `invalid method`;
  if (path.length === 0 || BAD_TARGET.test(path)) return `invalid request target`;
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let contentLength = -1;
  let hasHost = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (!TOKEN.test(name)) return `invalid header name`;
    if (BAD_VALUE.test(value)) return `invalid value of header ${name}`;
    const length = name.length;
    if (length === 4 && name.toLowerCase() === 'host') hasHost = true;
    else if (length === 14 && name.toLowerCase() === 'content-length') {
      if (!DIGITS.test(value) || (contentLength >= 0 && Number(value) !== contentLength)) return `invalid content-length`;
      if (contentLength >= 0) continue; // a repeated, equal value is sent once
      contentLength = Number(value);
    } else if (length === 17 && name.toLowerCase() === 'transfer-encoding') continue; // framing is ours
    head += `${name}: ${value}\r\n`;
  }
  if (!hasHost) head += `host: ${defaultHost}\r\n`;
  let framing: RequestFraming = 'none';
  if (contentLength >= 0) framing = contentLength > 0 && hasBody ? 'length' : 'none';
  else if (hasBody) {
    framing = 'chunked';
    head += 'transfer-encoding: chunked\r\n';
  }
  if (upgrade !== null) {
    if (BAD_VALUE.test(upgrade)) return 'invalid upgrade';
    head += `connection: upgrade\r\nupgrade: ${upgrade}\r\n`;
  }
  head += '\r\n';
  return { bytes: Buffer.from(head, 'latin1'), framing, contentLength: framing === 'length' ? contentLength : -1 };
}
