// The closed set of ways an HTTP/1.1 message can be malformed, with the status a server
// answers for each. The parsers report a code and the byte where they stopped; the
// integrator maps every request-side code onto LB_ERR_BAD_REQUEST or
// LB_ERR_HEADERS_TOO_LARGE (the 431s) and every response-side code onto
// LB_ERR_BAD_RESPONSE (a proxy answers its client 502 for a server's bad answer).

/** The statuses a server answers a malformed request with. */
export type H1RequestStatus = 400 | 431 | 501 | 505;

/** Every code, its request-side status and the words an operator reads. */
export const H1_ERRORS = {
  'bad-method': { status: 400, message: 'the method is not a token followed by one space (or is PRI)' },
  'bad-target': { status: 400, message: 'the request-target has a forbidden byte or does not fit the method' },
  'bad-version': { status: 400, message: 'the HTTP version is malformed' },
  'unsupported-version': { status: 505, message: 'a well-formed HTTP version other than 1.0 and 1.1' },
  'bad-status': { status: 400, message: 'the status line is malformed or the status is outside 100-599' },
  'bare-cr': { status: 400, message: 'a CR not followed by LF' },
  'bare-lf': { status: 400, message: 'a LF not preceded by CR' },
  'obs-fold': { status: 400, message: 'a field line starts with whitespace (line folding)' },
  'bad-field-name': { status: 400, message: 'a field name is empty, not a token, or followed by whitespace before the colon' },
  'bad-field-value': { status: 400, message: 'a field value holds a control character (NUL, DEL, ...)' },
  'missing-host': { status: 400, message: 'an HTTP/1.1 request without a Host field' },
  'duplicate-host': { status: 400, message: 'more than one Host field' },
  'bad-host': { status: 400, message: 'the Host value is not a host[:port]' },
  'bad-content-length': { status: 400, message: 'a Content-Length value that is not only digits, or too large' },
  'conflicting-content-length': { status: 400, message: 'Content-Length fields with different values' },
  'te-and-cl': { status: 400, message: 'Transfer-Encoding and Content-Length in one message' },
  'bad-transfer-encoding': {
    status: 400,
    message: 'Transfer-Encoding is malformed, or chunked is not its last and only chunked coding, or sent in HTTP/1.0',
  },
  'unknown-transfer-coding': { status: 501, message: 'a transfer coding other than chunked, gzip, deflate, compress' },
  'connect-with-body': { status: 400, message: 'a CONNECT request with Content-Length or Transfer-Encoding' },
  'head-too-large': { status: 431, message: 'the head is larger than maxHeadBytes' },
  'too-many-headers': { status: 431, message: 'more field lines than maxHeaders' },
  'bad-chunk-size': { status: 400, message: 'a chunk size that is not hex digits followed by extensions and CRLF' },
  'chunk-size-too-large': { status: 400, message: 'a chunk size of more than 13 hex digits' },
  'bad-chunk-extension': { status: 400, message: 'a malformed chunk extension' },
  'chunk-line-too-long': { status: 400, message: 'a chunk-size line longer than maxChunkLineBytes' },
  'bad-chunk-data-end': { status: 400, message: 'chunk data not followed by CRLF' },
  'trailers-too-large': { status: 400, message: 'a trailer section larger than maxTrailerBytes' },
  'forbidden-trailer': {
    status: 400,
    message:
      'a trailer field that frames, routes or belongs to the connection (Content-Length, Transfer-Encoding, Host, Connection, Upgrade, Keep-Alive, TE, Trailer)',
  },
} as const satisfies Record<string, { readonly status: H1RequestStatus; readonly message: string }>;

/** A stable code for each way a message can be malformed. */
export type H1ErrorCode = keyof typeof H1_ERRORS;

/** Which side sent the malformed message: decides the status answered. */
export type H1Side = 'request' | 'response';

/** The status a proxy answers: the table's for a client's request, 502 for a server's response. */
export function h1ErrorStatus(code: H1ErrorCode, side: H1Side): number {
  return side === 'request' ? H1_ERRORS[code].status : 502;
}

/** A parse that failed: the code, the byte offset in the buffer where it was detected, and the status to answer. */
export interface H1Error {
  readonly kind: 'error';
  readonly code: H1ErrorCode;
  readonly pos: number;
  readonly status: number;
}

/** A head not yet complete: call again once more bytes arrived. */
export interface H1Partial {
  readonly kind: 'partial';
}

/** The one partial result: returning it allocates nothing. */
export const H1_PARTIAL: H1Partial = Object.freeze({ kind: 'partial' });

/** Builds the error result of a head parse. */
export function h1Error(code: H1ErrorCode, pos: number, side: H1Side): H1Error {
  return { kind: 'error', code, pos, status: h1ErrorStatus(code, side) };
}
