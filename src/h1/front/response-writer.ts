// An HTTP/1.1 response head as one string, and the framing the body then takes
// (RFC 9112 §6.3, §9.3): the server's Content-Length kept, else chunked for HTTP/1.1
// clients and close-delimited for HTTP/1.0 ones; no body at all after HEAD, 1xx, 204, 304.
import { STATUS_CODES } from 'node:http';
import { lastChunkWith } from '../trailer-fields.js';

/** How the response body is written: as it is, chunk-encoded, not at all. `raw` covers Content-Length and close-delimited. */
export type ResponseFraming = 'raw' | 'chunked' | 'none';

/** What the head was decided to be. */
export interface ResponseHead {
  readonly text: string;
  readonly framing: ResponseFraming;
  /** The connection ends after this response. */
  readonly close: boolean;
}

// The Date value, made once a second (node:http does the same).
let dateSecond = -1;
let dateText = '';

/** The current time as an HTTP-date. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

/** A value or name byte HTTP/1.1 cannot carry (a response splitting attempt), found by one regex pass. */
const UNSAFE = /[\r\n\0]/;

/** The fields of a kept-alive response, as node:http writes them: clients bound their reuse by the timeout. */
export function keepAliveFields(clientTimeoutMs: number): string {
  const seconds = Math.floor(clientTimeoutMs / 1000);
  return seconds >= 1 ? `Connection: keep-alive\r\nKeep-Alive: timeout=${seconds}\r\n` : 'Connection: keep-alive\r\n';
}

/**
 * Builds the head for `status` with `headers` (raw pairs, hop-by-hop already removed).
 * `http11`: the client spoke HTTP/1.1; `keepAlive`: it may be kept (its wish, no close
 * asked by the exchange); `keepAliveText`: the fields then added (keepAliveFields).
 * Throws on a header that cannot be expressed.
 */
export function buildResponseHead(
  status: number,
  statusText: string,
  headers: readonly string[],
  requestMethod: string,
  http11: boolean,
  keepAlive: boolean,
  keepAliveText: string,
): ResponseHead {
  const bodyless = requestMethod === 'HEAD' || status < 200 || status === 204 || status === 304;
  let text = `HTTP/1.1 ${status} ${statusText || STATUS_CODES[status] || ''}\r\n`;
  let hasLength = false;
  let hasDate = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (UNSAFE.test(value) || UNSAFE.test(name) || name.length === 0)
      throw new Error(`header ${JSON.stringify(name)} cannot be sent over HTTP/1.1`);
    if (name.length === 14 && name.toLowerCase() === 'content-length') hasLength = true;
    else if (name.length === 4 && name.toLowerCase() === 'date') hasDate = true;
    text += `${name}: ${value}\r\n`;
  }
  // The server's Date is relayed; Doorman's own answers carry one as node:http's did (RFC 9110 §6.6.1).
  if (!hasDate) text += `Date: ${httpDate()}\r\n`;
  let framing: ResponseFraming;
  let close = !keepAlive;
  if (bodyless) framing = 'none';
  else if (hasLength) framing = 'raw';
  else if (http11) {
    framing = 'chunked';
    text += 'Transfer-Encoding: chunked\r\n';
  } else {
    // An HTTP/1.0 client reads the body until the connection closes.
    framing = 'raw';
    close = true;
  }
  text += close ? 'Connection: close\r\n' : keepAliveText;
  return { text: `${text}\r\n`, framing, close };
}

/** The trailer section ending a chunked body: the last-chunk and the fields (raw pairs); unsafe fields are dropped. */
export const lastChunk = lastChunkWith;

/** An interim (1xx) head: the fields as they are (no Date, no framing, no Connection). Throws on a header that cannot be expressed. */
export function buildInterimHead(status: number, statusText: string, headers: readonly string[]): string {
  let text = `HTTP/1.1 ${status} ${statusText || STATUS_CODES[status] || ''}\r\n`;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (UNSAFE.test(value) || UNSAFE.test(name) || name.length === 0)
      throw new Error(`header ${JSON.stringify(name)} cannot be sent over HTTP/1.1`);
    text += `${name}: ${value}\r\n`;
  }
  return `${text}\r\n`;
}

/** The 100 Continue interim response. */
export const CONTINUE_100 = 'HTTP/1.1 100 Continue\r\n\r\n';
