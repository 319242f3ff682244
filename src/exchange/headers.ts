// Header passes for both directions: hop-by-hop removal (RFC 9110 §7.6.1, including
// every header named in Connection), X-Forwarded-*, and the persistence cookie.

/** Hop-by-hop headers never forwarded in either direction. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Request headers we set ourselves, or that the front answers itself (expect: 100-continue). X-Request-Id is kept only from trusted clients. */
const REPLACED_ON_REQUEST = new Set(['x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'expect']);

/** Lower-cased header names listed in a Connection header value. */
export function connectionTokens(value: string | undefined): ReadonlySet<string> | undefined {
  // The common values name only headers that are hop-by-hop anyway.
  if (!value || value === 'keep-alive' || value === 'close' || value === 'Keep-Alive' || value === 'Close') return undefined;
  const tokens = new Set<string>();
  for (const token of value.split(',')) {
    const name = token.trim().toLowerCase();
    if (name) tokens.add(name);
  }
  return tokens;
}

/** Who the client is and how it reached us, for X-Forwarded-*. */
export interface ForwardingFacts {
  readonly clientAddress: string;
  readonly proto: 'http' | 'https';
  /** The frontend's real listening port. */
  readonly port: string;
  /** The client's Host value ('' when absent), for X-Forwarded-Host. */
  readonly host: string;
  /** X-Request-Id to send when the client's is absent or not trusted. */
  readonly requestId: string;
  /** Client-sent X-Forwarded-For is kept and appended to (trusted CIDRs). */
  readonly trustClientChain: boolean;
  /** No X-Forwarded-For at all (forwardFor.except). */
  readonly omitForwardedFor: boolean;
}

/**
 * Copies a request's raw headers for the upstream request: drops hop-by-hop and
 * Connection-named headers and the client's X-Forwarded-*, rewrites Cookie through
 * `rewriteCookie` (persistence cookie removed), then appends our X-Forwarded-*.
 */
export function upstreamRequestHeaders(
  rawHeaders: readonly string[],
  facts: ForwardingFacts,
  rewriteCookie: ((value: string) => string | undefined) | undefined,
  connectionHeader: string | undefined,
): { headers: string[]; requestId: string } {
  const named = connectionTokens(connectionHeader);
  const headers: string[] = [];
  let clientChain = '';
  let requestId = '';
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const value = rawHeaders[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || REPLACED_ON_REQUEST.has(lower) || named?.has(lower)) continue;
    if (lower === 'x-forwarded-for') {
      if (facts.trustClientChain) clientChain = clientChain ? `${clientChain}, ${value}` : value;
      continue;
    }
    // RFC 7239 says the same as X-Forwarded-*: only a trusted client may send it on.
    if (lower === 'forwarded' && !facts.trustClientChain) continue;
    if (lower === 'x-request-id') {
      if (facts.trustClientChain && !requestId) requestId = value;
      continue;
    }
    if (lower === 'cookie' && rewriteCookie) {
      const kept = rewriteCookie(value);
      if (kept !== undefined) headers.push(name, kept);
      continue;
    }
    headers.push(name, value);
  }
  if (!facts.omitForwardedFor) {
    headers.push('x-forwarded-for', clientChain ? `${clientChain}, ${facts.clientAddress}` : facts.clientAddress);
  }
  headers.push('x-forwarded-proto', facts.proto, 'x-forwarded-port', facts.port);
  if (facts.host) headers.push('x-forwarded-host', facts.host);
  requestId ||= facts.requestId;
  headers.push('x-request-id', requestId);
  return { headers, requestId };
}

/** What the response pass found besides copying headers. */
export interface ResponseHeaderResult {
  readonly headers: string[];
  /** The upstream Cache-Control value, for `nocache`. */
  readonly cacheControl: string | undefined;
  /** Index in `headers` of the Cache-Control value, -1 when absent. */
  readonly cacheControlIndex: number;
}

/** Copies a response's raw headers for the client, dropping hop-by-hop ones. */
export function downstreamResponseHeaders(raw: readonly (Buffer | string)[]): ResponseHeaderResult {
  let named: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === 10 && raw[i]!.toString().toLowerCase() === 'connection') {
      const tokens = connectionTokens(raw[i + 1]!.toString());
      if (tokens) named = named ? new Set([...named, ...tokens]) : new Set(tokens);
    }
  }
  const headers: string[] = [];
  let cacheControl: string | undefined;
  let cacheControlIndex = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString();
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower)) continue;
    const value = raw[i + 1]!.toString('latin1');
    if (lower === 'cache-control' && cacheControl === undefined) {
      cacheControl = value;
      cacheControlIndex = headers.length + 1;
    }
    headers.push(name, value);
  }
  return { headers, cacheControl, cacheControlIndex };
}
