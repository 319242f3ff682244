// Today's Upstream: HTTP/1.1 to one server through an undici Pool (keep-alive, no
// pipelining, strict Content-Length), connecting with the server's own pinned TLS.
import type { Duplex } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import type { ServerConfig, TimeoutsConfig } from '../config/types.js';
import { LbError } from '../errors.js';
import type { Connector } from '../tls/upstream.js';
import { classifyUpstreamError } from './classify.js';
import type { Upstream, UpstreamHandler, UpstreamRequest } from './upstream.js';

/** The origin undici connects to; TLS is the connector's business, so always http:. */
function originOf(config: ServerConfig): string {
  const { host, port } = config.address;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

/** Translates undici's dispatch callbacks into the Upstream vocabulary. */
class DispatchAdapter implements Dispatcher.DispatchHandler {
  readonly #handler: UpstreamHandler;

  constructor(handler: UpstreamHandler) {
    this.#handler = handler;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#handler.onConnect(abort);
  }

  // undici passes the chunk itself, although its typings say a size.
  onBodySent(chunk: unknown): void {
    this.#handler.onBodySent(typeof chunk === 'number' ? chunk : (chunk as Buffer).length);
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx: Node's server answers 100-continue to the client itself; others are dropped.
    if (statusCode < 200) return true;
    return this.#handler.onResponse(statusCode, statusText, rawHeaders, resume);
  }

  onData(chunk: Buffer): boolean {
    return this.#handler.onData(chunk);
  }

  onComplete(trailers: Buffer[] | string[] | null): void {
    this.#handler.onComplete(trailers ? trailers.map(String) : []);
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, socket: Duplex): void {
    this.#handler.onUpgrade(statusCode, rawHeaders ?? [], socket);
  }

  onError(err: Error): void {
    // undici refused the request itself (a header it will not send): not the server's fault.
    if ((err as { code?: string }).code === 'UND_ERR_INVALID_ARG') this.#handler.onError(new LbError('LB_ERR_BAD_REQUEST', err.message, { cause: err }));
    else this.#handler.onError(classifyUpstreamError(err));
  }
}

/** A keep-alive pool to one server; `maxconn` bounds its connections. */
export function createUndiciUpstream(config: ServerConfig, timeouts: TimeoutsConfig, connector: Connector): Upstream {
  const createPool = () =>
    new Pool(originOf(config), {
      connect: connector,
      connections: config.maxconn > 0 ? config.maxconn : null,
      pipelining: 1,
      headersTimeout: timeouts.serverMs,
      bodyTimeout: timeouts.serverMs,
      strictContentLength: true,
    });
  let pool = createPool();
  return {
    dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
      pool.dispatch(
        {
          path: request.path,
          method: request.method,
          headers: request.headers as string[],
          body: request.body,
          upgrade: request.upgrade,
          idempotent: false,
          blocking: false,
        },
        new DispatchAdapter(handler),
      );
    },
    recycle(): void {
      const old = pool;
      pool = createPool();
      old.close().catch(() => {});
    },
    close: () => pool.close(),
    destroy: () => pool.destroy(),
  };
}
