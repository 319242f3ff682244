// HTTP/2 to one server (`backends[].protocol: h2`, e.g. gRPC services): one TLS session
// per server, negotiated by ALPN h2 and verified like every upstream connection (CA,
// name, pins), its streams multiplexed; trailers come back to the exchange. A session
// that ends (GOAWAY, error, recycle) is replaced by a new one for the next request.
// A server with `proxyProtocol` gets one session per client connection, each opened
// with its PROXY header before TLS and closed after DEFAULT_IDLE_MS without a stream.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import net from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import type { ServerConfig, TimeoutsConfig } from '../config/types.js';
import { LbError, type UpstreamError } from '../errors.js';
import { encodeProxyHeader } from '../proxy-protocol/encode.js';
import { DEFAULT_IDLE_MS } from './h1-pool.js';
import { classifyUpstreamError, isUpstreamError } from './classify.js';
import type { Upstream, UpstreamHandler, UpstreamRequest } from './upstream.js';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;

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

/** Ends a request stream with the client's trailers (raw pairs), or with none. */
function sendTrailers(stream: ClientHttp2Stream, trailers: readonly string[] | undefined): void {
  const out: OutgoingHttpHeaders = {};
  if (trailers !== undefined) {
    for (let i = 0; i < trailers.length; i += 2) {
      const name = trailers[i]!.toLowerCase();
      const seen = out[name];
      out[name] =
        seen === undefined ? trailers[i + 1]! : Array.isArray(seen) ? [...seen, trailers[i + 1]!] : [String(seen), trailers[i + 1]!];
    }
  }
  try {
    stream.sendTrailers(out);
  } catch {
    stream.close(NGHTTP2_INTERNAL_ERROR);
  }
}

class H2Upstream implements Upstream {
  readonly #config: ServerConfig;
  readonly #timeouts: TimeoutsConfig;
  readonly #tls: ConnectionOptions;
  /** Open sessions by PROXY header ('' without one: a single session). */
  readonly #sessions = new Map<string, ClientHttp2Session>();
  /** Why a session failed, for the streams it takes down. */
  readonly #sessionErrors = new WeakMap<ClientHttp2Session, unknown>();

  constructor(config: ServerConfig, timeouts: TimeoutsConfig, tlsOptions: ConnectionOptions) {
    this.#config = config;
    this.#timeouts = timeouts;
    this.#tls = tlsOptions;
  }

  #connect(preface: Buffer | null): ClientHttp2Session {
    const key = preface === null ? '' : preface.toString('latin1');
    const current = this.#sessions.get(key);
    if (current && !current.closed && !current.destroyed) return current;
    const { host, port } = this.#config.address;
    const session = http2.connect(`https://${host.includes(':') ? `[${host}]` : host}:${port}`, {
      createConnection: () => {
        if (preface === null) return tls.connect({ ...this.#tls, host, port, ALPNProtocols: ['h2'] });
        const tcp = net.connect({ host, port });
        tcp.write(preface); // before TLS, as in h1-upstream.ts
        return tls.connect({ ...this.#tls, socket: tcp, ALPNProtocols: ['h2'] });
      },
      settings: { enablePush: false },
    });
    this.#sessions.set(key, session);
    // Every stream dispatched while the session connects waits on its 'connect': any number may.
    session.setMaxListeners(0);
    const timer = setTimeout(() => session.destroy(new LbError('LB_ERR_CONNECT_TIMEOUT', 'connect: timeout')), this.#timeouts.connectMs);
    session.once('connect', () => clearTimeout(timer));
    session.on('error', (err) => this.#sessionErrors.set(session, err));
    // A session that names one client connection is not kept once that client is quiet.
    if (preface !== null) session.setTimeout(DEFAULT_IDLE_MS, () => session.close());
    // After GOAWAY the session takes no new stream: the next request opens another.
    session.on('goaway', () => this.#forget(key, session));
    session.once('close', () => {
      clearTimeout(timer);
      this.#forget(key, session);
    });
    return session;
  }

  #forget(key: string, session: ClientHttp2Session): void {
    if (this.#sessions.get(key) === session) this.#sessions.delete(key);
  }

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    if (request.upgrade) {
      handler.onError(new LbError('LB_ERR_BAD_REQUEST', 'protocol upgrades are not carried over HTTP/2'));
      return;
    }
    const version = this.#config.proxyProtocol;
    const session = this.#connect(version ? encodeProxyHeader(version, request.client) : null);
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
      // With a body, the stream ends with the client's trailers (or an empty end) once the body ended.
      stream = session.request(headers, { endStream: request.body === null, waitForTrailers: request.body !== null });
    } catch (err) {
      handler.onError(classifyUpstreamError(err));
      return;
    }
    new Attempt(stream, session, request, handler, this.#timeouts.serverMs, () => this.#sessionErrors.get(session)).start();
  }

  /** Takes every session out of use; returns them. */
  #takeAll(): ClientHttp2Session[] {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    return sessions;
  }

  recycle(): void {
    for (const session of this.#takeAll()) session.close();
  }

  async close(): Promise<void> {
    const open = this.#takeAll().filter((session) => !session.destroyed);
    await Promise.all(open.map((session) => new Promise<void>((resolve) => session.close(resolve))));
  }

  destroy(): Promise<void> {
    for (const session of this.#takeAll()) session.destroy();
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
  /** Why the exchange cancelled the stream (a response it will not relay is reported as such, not as a reset). */
  #abortError: UpstreamError | undefined;
  /** The request body failed (the client sent what cannot be forwarded): the client's fault, not the server's. */
  #bodyError: LbError<'LB_ERR_BAD_REQUEST'> | undefined;
  /** The exchange cancelled: frames still arriving before the reset are not passed on. */
  #cancelled = false;

  constructor(
    stream: ClientHttp2Stream,
    session: ClientHttp2Session,
    request: UpstreamRequest,
    handler: UpstreamHandler,
    serverMs: number,
    sessionError: () => unknown,
  ) {
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
    const abort = (err?: Error) => {
      this.#cancelled = true;
      if (isUpstreamError(err)) this.#abortError ??= err;
      if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
    };
    // Connected: from here on the server may have seen the request.
    if (this.#session.connecting) this.#session.once('connect', () => handler.onConnect(abort));
    else handler.onConnect(abort);
    const body = this.#request.body;
    if (body) {
      body.on('data', (chunk: Buffer) => handler.onBodySent(chunk.length));
      body.on('error', (err: Error) => {
        this.#bodyError ??= new LbError('LB_ERR_BAD_REQUEST', `request body: ${err.message}`);
        if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
      });
      stream.once('wantTrailers', () => sendTrailers(stream, body.trailers));
      body.pipe(stream);
    }
    stream.setTimeout(this.#serverMs, () => {
      this.#timedOut = true;
      stream.close(NGHTTP2_CANCEL);
    });
    stream.on('headers', (headers) => {
      if (this.#cancelled) return;
      const status = Number(headers[':status']);
      if (status >= 100 && status < 200) handler.onInterim(status, '', pairsOf(headers));
    });
    stream.on('response', (headers) => {
      if (this.#cancelled) return;
      const goOn = handler.onResponse(Number(headers[':status']), '', pairsOf(headers), () => stream.resume());
      if (!goOn) stream.pause();
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.#cancelled) return;
      if (!handler.onData(chunk)) stream.pause();
    });
    stream.on('trailers', (trailers: IncomingHttpHeaders) => (this.#trailers = pairsOf(trailers)));
    stream.on('end', () => this.#settle(this.#cancelled ? new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: cancelled') : null));
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
    if (this.#bodyError !== undefined) this.#handler.onError(this.#bodyError);
    else if (this.#timedOut) this.#handler.onError(new LbError('LB_ERR_UPSTREAM_TIMEOUT', 'server: timeout'));
    else this.#handler.onError(classifyUpstreamError(this.#abortError ?? this.#sessionError() ?? err));
  }
}

/** An HTTP/2 Upstream to a TLS server. */
export function createH2Upstream(config: ServerConfig, timeouts: TimeoutsConfig, tlsOptions: ConnectionOptions | null): Upstream {
  if (!tlsOptions) throw new Error(`server ${config.name}: protocol h2 needs tls`);
  return new H2Upstream(config, timeouts, tlsOptions);
}
