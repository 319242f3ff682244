// HTTP/2 to one server (`backends[].protocol: h2`, e.g. gRPC services): one TLS session
// per server, negotiated by ALPN h2 and verified like every upstream connection (CA,
// name, pins), its streams multiplexed; trailers come back to the exchange. A session
// that ends (GOAWAY, error, recycle) is replaced by a new one for the next request.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import tls, { type ConnectionOptions } from 'node:tls';
import type { ServerConfig, TimeoutsConfig } from '../config/types.js';
import { LbError } from '../errors.js';
import { classifyUpstreamError } from './classify.js';
import type { Upstream, UpstreamHandler, UpstreamRequest } from './upstream.js';

const { NGHTTP2_CANCEL } = http2.constants;

/** Fields an HTTP/2 request never carries (RFC 9113 §8.2.2), besides Host which becomes :authority. */
const NOT_FORWARDED = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** The response's fields as raw pairs, pseudo-headers left out. */
function pairsOf(headers: IncomingHttpHeaders): string[] {
  const pairs: string[] = [];
  for (const name of Object.keys(headers)) {
    if (name.charCodeAt(0) === 58 /* ':' */) continue;
    const value = headers[name];
    if (Array.isArray(value)) for (const v of value) pairs.push(name, v);
    else if (value !== undefined) pairs.push(name, value);
  }
  return pairs;
}

class H2Upstream implements Upstream {
  readonly #config: ServerConfig;
  readonly #timeouts: TimeoutsConfig;
  readonly #tls: ConnectionOptions;
  #session: ClientHttp2Session | null = null;
  /** Why the current session failed, for the streams it takes down. */
  #sessionError: unknown;

  constructor(config: ServerConfig, timeouts: TimeoutsConfig, tlsOptions: ConnectionOptions) {
    this.#config = config;
    this.#timeouts = timeouts;
    this.#tls = tlsOptions;
  }

  #connect(): ClientHttp2Session {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) return current;
    const { host, port } = this.#config.address;
    const session = http2.connect(`https://${host.includes(':') ? `[${host}]` : host}:${port}`, {
      createConnection: () => tls.connect({ ...this.#tls, host, port, ALPNProtocols: ['h2'] }),
      settings: { enablePush: false },
    });
    this.#session = session;
    this.#sessionError = undefined;
    const timer = setTimeout(() => session.destroy(new LbError('LB_ERR_CONNECT_TIMEOUT', 'connect: timeout')), this.#timeouts.connectMs);
    session.once('connect', () => clearTimeout(timer));
    session.on('error', (err: Error) => {
      this.#sessionError = err;
    });
    // After GOAWAY the session takes no new stream: the next request opens another.
    session.on('goaway', () => this.#forget(session));
    session.once('close', () => {
      clearTimeout(timer);
      this.#forget(session);
    });
    return session;
  }

  #forget(session: ClientHttp2Session): void {
    if (this.#session === session) this.#session = null;
  }

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    if (request.upgrade) {
      handler.onError(new LbError('LB_ERR_BAD_REQUEST', 'protocol upgrades are not carried over HTTP/2'));
      return;
    }
    const session = this.#connect();
    const headers: OutgoingHttpHeaders = { ':method': request.method, ':path': request.path, ':scheme': 'https' };
    for (let i = 0; i < request.headers.length; i += 2) {
      const name = request.headers[i]!.toLowerCase();
      const value = request.headers[i + 1]!;
      if (name === 'host') headers[':authority'] = value;
      if (NOT_FORWARDED.has(name) || (name === 'te' && value !== 'trailers')) continue;
      const seen = headers[name];
      headers[name] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [String(seen), value];
    }
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(headers, { endStream: request.body === null });
    } catch (err) {
      handler.onError(classifyUpstreamError(err));
      return;
    }
    new Attempt(stream, session, request, handler, this.#timeouts.serverMs, () => this.#sessionError).start();
  }

  recycle(): void {
    const session = this.#session;
    this.#session = null;
    session?.close();
  }

  async close(): Promise<void> {
    const session = this.#session;
    this.#session = null;
    if (session && !session.destroyed) await new Promise<void>((resolve) => session.close(resolve));
  }

  destroy(): Promise<void> {
    this.#session?.destroy();
    this.#session = null;
    return Promise.resolve();
  }
}

/** One request's stream: its events turned into the UpstreamHandler's calls. */
class Attempt {
  readonly #stream: ClientHttp2Stream;
  readonly #session: ClientHttp2Session;
  readonly #request: UpstreamRequest;
  readonly #handler: UpstreamHandler;
  readonly #serverMs: number;
  readonly #sessionError: () => unknown;
  #trailers: string[] = [];
  #done = false;
  #timedOut = false;

  constructor(stream: ClientHttp2Stream, session: ClientHttp2Session, request: UpstreamRequest, handler: UpstreamHandler, serverMs: number, sessionError: () => unknown) {
    this.#stream = stream;
    this.#session = session;
    this.#request = request;
    this.#handler = handler;
    this.#serverMs = serverMs;
    this.#sessionError = sessionError;
  }

  start(): void {
    const stream = this.#stream;
    const handler = this.#handler;
    const abort = () => {
      if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
    };
    // Connected: from here on the server may have seen the request.
    if (this.#session.connecting) this.#session.once('connect', () => handler.onConnect(abort));
    else handler.onConnect(abort);
    const body = this.#request.body;
    if (body) {
      body.on('data', (chunk: Buffer) => handler.onBodySent(chunk.length));
      body.pipe(stream);
    }
    stream.setTimeout(this.#serverMs, () => {
      this.#timedOut = true;
      stream.close(NGHTTP2_CANCEL);
    });
    stream.on('response', (headers) => {
      const goOn = handler.onResponse(Number(headers[':status']), '', pairsOf(headers), () => stream.resume());
      if (!goOn) stream.pause();
    });
    stream.on('data', (chunk: Buffer) => {
      if (!handler.onData(chunk)) stream.pause();
    });
    stream.on('trailers', (trailers: IncomingHttpHeaders) => (this.#trailers = pairsOf(trailers)));
    stream.on('end', () => this.#settle(null));
    stream.on('error', (err) => this.#settle(err));
    stream.on('close', () => this.#settle(new LbError('LB_ERR_UPSTREAM_CLOSED', `closed: stream reset (${stream.rstCode})`)));
  }

  #settle(err: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#stream.setTimeout(0);
    if (err === null) {
      this.#handler.onComplete(this.#trailers);
      return;
    }
    if (this.#timedOut) this.#handler.onError(new LbError('LB_ERR_UPSTREAM_TIMEOUT', 'server: timeout'));
    else this.#handler.onError(classifyUpstreamError(this.#sessionError() ?? err));
  }
}

/** An HTTP/2 Upstream to a TLS server. */
export function createH2Upstream(config: ServerConfig, timeouts: TimeoutsConfig, tlsOptions: ConnectionOptions | null): Upstream {
  if (!tlsOptions) throw new Error(`server ${config.name}: protocol h2 needs tls`);
  return new H2Upstream(config, timeouts, tlsOptions);
}
