// The HTTP/2 front: each client stream becomes an exchange, like an HTTP/1.1 request.
// nghttp2 (under node:http2) has already refused malformed frames, connection-specific
// headers and CR/LF/NUL in values; this file checks what stays for a proxy that speaks
// HTTP/1.1 upstream (RFC 9113 §8.3.1, §8.2.3) and answers through a Downstream over
// the stream.
import { validateHeaderName, validateHeaderValue } from 'node:http';
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { LbError } from '../errors.js';
import type { Downstream } from '../exchange/downstream.js';
import { Exchange, type ExchangeContext } from '../exchange/exchange.js';
import { trailersProblem } from '../h1/trailer-fields.js';
import type { ConnectionAddresses } from '../client-address.js';
import type { RequestHead } from '../exchange/request-head.js';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_CANCEL, NGHTTP2_PROTOCOL_ERROR } = http2.constants;

const NO_TRAILERS: readonly string[] = [];

function ignore(): void {}

/** A client's request body as the upstream reads it, with the client's trailers once they came. */
class StreamBody extends PassThrough {
  trailers: readonly string[] = NO_TRAILERS;

  constructor() {
    super();
    // Destroyed with an error when the trailers are refused; a consumer that left must not crash the process.
    this.on('error', ignore);
  }
}

/** Trailer fields as raw pairs, repeated ones flattened. */
function trailerPairs(headers: IncomingHttpHeaders): string[] {
  const pairs: string[] = [];
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (Array.isArray(value)) for (const v of value) pairs.push(name, v);
    else if (value !== undefined) pairs.push(name, value);
  }
  return pairs;
}

/** Connection-specific fields (RFC 9113 §8.2.2): never in an HTTP/2 message, either way. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** No NUL, CR or LF anywhere, no whitespace at either end. */
function isCleanValue(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if (c === 0 || c === 10 || c === 13) return false;
  }
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  return !(first === 32 || first === 9 || last === 32 || last === 9);
}

/** Raw pairs as node:http2 wants them: lower-case names, repeated ones as arrays. */
function toHeaderObject(pairs: readonly string[], into: Record<string, string | string[]>): Record<string, string | string[]> {
  for (let i = 0; i < pairs.length; i += 2) {
    const name = pairs[i]!.toLowerCase();
    const value = pairs[i + 1]!;
    const seen = into[name];
    if (seen === undefined) into[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else into[name] = [seen, value];
  }
  return into;
}

/** Throws on a response field HTTP/2 cannot carry: checked before sending, so a malformed response is the exchange's 502, not a reset later. */
function checkResponseFields(headers: readonly string[]): void {
  for (let i = 0; i < headers.length; i += 2) {
    validateHeaderName(headers[i]!);
    validateHeaderValue(headers[i]!, headers[i + 1]!);
    if (CONNECTION_SPECIFIC.has(headers[i]!.toLowerCase())) throw new Error(`connection-specific header ${headers[i]}`);
  }
}

/**
 * Keeps the client's trailers for the upstream, which sends them after the body; a field
 * no proxy may pass on makes the request malformed (RFC 9113 §8.1.1): the body fails
 * before its end reaches the server and the stream is reset.
 */
function takeTrailers(stream: ServerHttp2Stream, body: StreamBody, trailers: IncomingHttpHeaders): void {
  const pairs = trailerPairs(trailers);
  const problem = trailersProblem(pairs);
  if (problem === null) {
    body.trailers = pairs;
    return;
  }
  body.destroy(new Error(problem));
  stream.close(NGHTTP2_PROTOCOL_ERROR);
}

/** A Downstream over one server-side HTTP/2 stream. */
class StreamDownstream implements Downstream {
  readonly #stream: ServerHttp2Stream;
  readonly #clientTimeoutMs: number;
  readonly body: StreamBody | null;
  #ended = false;
  /** The response head, until it is sent. */
  #head: Record<string, string | string[]> | null = null;
  #trailers: readonly string[] | null = null;
  /** Body chunks that came with the head, before it was sent. */
  #held: Buffer[] | null = null;

  constructor(stream: ServerHttp2Stream, hasBody: boolean, clientTimeoutMs: number) {
    this.#stream = stream;
    this.#clientTimeoutMs = clientTimeoutMs;
    // The upstream client destroys a body stream it has read; the response still has to go
    // out on this stream, so it reads a pipe of the stream's readable side instead.
    if (hasBody) {
      const body = stream.pipe(new StreamBody());
      stream.once('trailers', (trailers: IncomingHttpHeaders) => takeTrailers(stream, body, trailers));
      this.body = body;
    } else this.body = null;
  }

  onClose(listener: () => void): void {
    this.#stream.once('close', () => {
      if (!this.#ended || !this.#stream.writableFinished) listener();
    });
  }

  bodyFlowing(): void {
    // A client that stalls its body loses the stream, not the whole connection.
    const stream = this.#stream;
    stream.setTimeout(this.#clientTimeoutMs, () => stream.close(NGHTTP2_CANCEL));
    stream.once('end', () => stream.setTimeout(0));
  }

  /** A 1xx before the final head: its own HEADERS frame. */
  interim(status: number, _statusText: string, headers: readonly string[]): void {
    const stream = this.#stream;
    if (this.#head !== null || stream.headersSent || stream.destroyed) return;
    checkResponseFields(headers);
    stream.additionalHeaders(toHeaderObject(headers, { ':status': String(status) }));
  }

  respond(status: number, _statusText: string, headers: readonly string[]): void {
    // HTTP/2 has no reason phrase and no Connection header: closing is the session's business (GOAWAY).
    checkResponseFields(headers);
    this.#head = toHeaderObject(headers, { ':status': String(status) });
    // Held until the end of this turn: a response whose body and end arrive with its head
    // (most do) leaves as HEADERS + DATA with END_STREAM, without waiting for trailers, and
    // one that ends at once with no body and no trailers as a single HEADERS frame (gRPC's
    // trailers-only answer must stay that shape).
    queueMicrotask(this.#flush);
  }

  write(chunk: Buffer): boolean {
    if (this.#head !== null) {
      (this.#held ??= []).push(chunk);
      return true;
    }
    return this.#stream.write(chunk);
  }

  onDrain(listener: () => void): void {
    this.#stream.on('drain', listener);
  }

  end(last?: string, trailers?: readonly string[]): void {
    this.#ended = true;
    const stream = this.#stream;
    this.#trailers = trailers ?? null;
    const head = this.#head;
    if (head !== null && trailers === undefined) {
      // The whole response is here: its head need not wait for trailers.
      this.#head = null;
      const held = this.#held;
      this.#held = null;
      if (stream.destroyed) return;
      const empty = held === null && !last;
      if (!this.#send(head, { endStream: empty }) || empty) return;
      if (held !== null) for (const chunk of held) stream.write(chunk);
    } else {
      // A head still held goes out ready for the trailers (sent by the wantTrailers listener).
      this.#flush();
    }
    stream.end(last);
  }

  /** The head, at the end of the turn it came in, when the response did not end in it: trailers may still come. */
  readonly #flush = (): void => {
    const head = this.#head;
    if (head === null) return;
    this.#head = null;
    const held = this.#held;
    this.#held = null;
    const stream = this.#stream;
    if (stream.destroyed || !this.#send(head, { waitForTrailers: true })) return;
    stream.once('wantTrailers', this.#sendTrailers);
    if (held !== null) for (const chunk of held) stream.write(chunk);
  };

  /** Sends a response head; false (the stream reset) when node:http2 refuses it. */
  #send(head: Record<string, string | string[]>, options: http2.ServerStreamResponseOptions): boolean {
    try {
      this.#stream.respond(head, options);
      return true;
    } catch {
      this.#stream.close(NGHTTP2_INTERNAL_ERROR);
      return false;
    }
  }

  readonly #sendTrailers = (): void => {
    try {
      this.#stream.sendTrailers(this.#trailers ? toHeaderObject(this.#trailers, {}) : {});
    } catch {
      this.#stream.close(NGHTTP2_INTERNAL_ERROR);
    }
  };

  abort(): void {
    this.#stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  tunnel(_status: number, _headers: readonly string[], upstream: Socket): void {
    // Extended CONNECT (RFC 8441) is not offered, so no server is ever asked to switch protocols.
    upstream.destroy();
    this.#stream.close(NGHTTP2_INTERNAL_ERROR);
  }
}

/**
 * The HTTP/1.1 head of an HTTP/2 request: pseudo-headers out, Host from :authority,
 * the split Cookie fields joined into one (RFC 9113 §8.2.3); the error of the table when
 * the request cannot be carried.
 */
export function requestHeadOfStream(
  headers: IncomingHttpHeaders,
  rawHeaders: readonly string[],
  hasBody: boolean,
  addresses: ConnectionAddresses,
): RequestHead | LbError {
  const method = headers[':method'] ?? '';
  const path = headers[':path'];
  const authority = headers[':authority'];
  if (method === 'CONNECT') return new LbError('LB_ERR_BAD_REQUEST', 'CONNECT is not proxied');
  if (!path || path.charCodeAt(0) !== 47 /* '/' */) return new LbError('LB_ERR_BAD_REQUEST', 'request target must be a path');
  if (!isCleanValue(path) || /\s/.test(path) || (authority !== undefined && !isCleanValue(authority)))
    return new LbError('LB_ERR_BAD_REQUEST', 'malformed pseudo-header');
  const out: string[] = [];
  const cookies: string[] = [];
  let host: string | undefined;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    // nghttp2 lets these through; an HTTP/1.1 head built from them would split (RFC 9113 §8.2.1).
    if (!isCleanValue(value)) return new LbError('LB_ERR_BAD_REQUEST', `malformed value of ${name}`);
    if (CONNECTION_SPECIFIC.has(name) || (name === 'te' && value !== 'trailers')) {
      return new LbError('LB_ERR_BAD_REQUEST', `connection-specific header ${name}`);
    }
    if (name === 'cookie') {
      cookies.push(value);
      continue;
    }
    if (name === 'host') {
      if (host !== undefined) return new LbError('LB_ERR_BAD_REQUEST', 'duplicate host header');
      host = value;
    }
    out.push(name, value);
  }
  if (authority !== undefined && host !== undefined && authority.toLowerCase() !== host.toLowerCase()) {
    return new LbError('LB_ERR_BAD_REQUEST', ':authority and host disagree');
  }
  const effectiveHost = authority ?? host;
  if (effectiveHost === undefined || effectiveHost === '') return new LbError('LB_ERR_BAD_REQUEST', 'no :authority or host');
  if (host === undefined) out.unshift('host', effectiveHost);
  const cookie = cookies.length > 0 ? cookies.join('; ') : undefined;
  if (cookie !== undefined) out.push('cookie', cookie);
  return {
    method,
    target: path,
    httpVersion: '2.0',
    headers: out,
    host: effectiveHost,
    cookie,
    connection: undefined,
    hasBody,
    upgrade: null,
    clientAddress: addresses.clientAddress,
    clientPort: addresses.clientPort,
    localAddress: addresses.localAddress,
    localPort: addresses.localPort,
  };
}

export interface StreamFrontOptions {
  readonly exchange: ExchangeContext;
  readonly clientTimeoutMs: number;
  readonly requestId: () => string;
  /** A stream was opened (lb_http2_streams_total). */
  readonly streamOpened: () => void;
}

/** Builds the `stream` listener of one frontend's HTTP/2 sessions. */
export function createStreamFront(
  options: StreamFrontOptions,
): (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[], addresses: ConnectionAddresses) => void {
  const { exchange: ctx, clientTimeoutMs, requestId } = options;
  return function handleStream(stream, headers, _flags, rawHeaders, addresses) {
    options.streamOpened();
    stream.on('error', () => {});
    // A body follows unless the HEADERS frame ended the stream.
    const hasBody = !stream.endAfterHeaders;
    const head = requestHeadOfStream(headers, rawHeaders, hasBody, addresses);
    if (head instanceof LbError) {
      // Recorded with what the client sent; never forwarded.
      const sent: RequestHead = {
        method: headers[':method'] ?? '',
        target: headers[':path'] ?? '',
        httpVersion: '2.0',
        headers: [],
        host: headers[':authority'] ?? '',
        cookie: undefined,
        connection: undefined,
        hasBody: false,
        upgrade: null,
        ...addresses,
      };
      new Exchange(sent, new StreamDownstream(stream, false, clientTimeoutMs), ctx, requestId()).reject(head);
      return;
    }
    new Exchange(head, new StreamDownstream(stream, hasBody, clientTimeoutMs), ctx, requestId()).start();
  };
}
