// The one decision after a head (Go's transfer.go, llhttp's after_headers_complete):
// how the message's body is delimited. Order per RFC 9112 §6.3: messages that never have
// a body, then tunnels, then chunked, then a non-chunked Transfer-Encoding (responses
// only; a request with one was rejected by the parser), then Content-Length, then
// until-close for responses and no body for requests.
import { MF_CHNK, MF_CLEN, MF_TE } from './head.js';

/**
 * - `none`: the message ends with its head.
 * - `length`: exactly `contentLength` bytes follow (> 0).
 * - `chunked`: a chunked body follows (scan it with ChunkedBody).
 * - `until-close`: the body is every byte until the server closes: the connection is not reused.
 * - `tunnel`: after a 101 or a 2xx to CONNECT, both directions carry another protocol's bytes.
 */
export type BodyKind = 'none' | 'length' | 'chunked' | 'until-close' | 'tunnel';

/** The framing facts of a parsed head (a RequestHead or ResponseHead has them). */
export interface Framing {
  readonly flags: number;
  readonly contentLength: number;
}

/** What a response's body depends on besides its own head. */
export interface ResponseContext {
  readonly status: number;
  /** The method of the request this response answers. */
  readonly requestMethod: string;
}

/**
 * How the body of a message is delimited: a request's from its head alone, a response's
 * from its head, its status and the request's method. A 101 is a tunnel whatever the
 * request asked: checking that its Upgrade answers the request's is the caller's job.
 */
export function bodyKind(head: Framing, response?: ResponseContext): BodyKind {
  if (response !== undefined) {
    const { status, requestMethod } = response;
    if (status === 101) return 'tunnel';
    if (requestMethod === 'CONNECT' && status >= 200 && status < 300) return 'tunnel';
    if (requestMethod === 'HEAD' || status < 200 || status === 204 || status === 304) return 'none';
  }
  const flags = head.flags;
  if ((flags & MF_CHNK) !== 0) return 'chunked';
  // parseRequestHead rejects a request whose Transfer-Encoding does not end in chunked.
  if ((flags & MF_TE) !== 0 && response !== undefined) return 'until-close';
  if ((flags & MF_CLEN) !== 0) return head.contentLength > 0 ? 'length' : 'none';
  return response !== undefined ? 'until-close' : 'none';
}
