// Doorman's own HTTP/1.1 Upstream: a keep-alive pool per server (h1-pool.ts), one
// request per connection at a time (h1-attempt.ts), heads built once (h1-request-head.ts)
// and responses parsed by src/h1/. TLS uses the server's pinned options as they are.
// A server with `proxyProtocol` gets a PROXY header first on each connection (before
// TLS, like HAProxy's send-proxy), and a connection is reused only by requests of the
// client connection it names (HAProxy's connection reuse keyed by the PROXY parameters).
import net from 'node:net';
import tls, { type ConnectionOptions } from 'node:tls';
import type { ServerConfig, TimeoutsConfig } from '../config/types.js';
import { LbError } from '../errors.js';
import { encodeProxyHeader } from '../proxy-protocol/encode.js';
import { H1Attempt } from './h1-attempt.js';
import { H1Pool } from './h1-pool.js';
import { buildRequestHead } from './h1-request-head.js';
import type { Upstream, UpstreamHandler, UpstreamRequest } from './upstream.js';

/**
 * How much a server socket buffers while its request is paused (the client is slower):
 * 64 KiB rather than Node's 16 KiB, so a paused response keeps arriving (no read stop
 * after one TLS record) and goes on as one piece on resume.
 */
const READ_HIGH_WATER_MARK = 64 * 1024;

class H1Upstream implements Upstream {
  readonly #config: ServerConfig;
  readonly #timeouts: TimeoutsConfig;
  readonly #tls: ConnectionOptions | null;
  readonly #defaultHost: string;
  #pool: H1Pool;

  constructor(config: ServerConfig, timeouts: TimeoutsConfig, tlsOptions: ConnectionOptions | null) {
    this.#config = config;
    this.#timeouts = timeouts;
    this.#tls = tlsOptions;
    const { host, port } = config.address;
    this.#defaultHost = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.#pool = this.#createPool();
  }

  #createPool(): H1Pool {
    const { host, port } = this.#config.address;
    const options = this.#tls;
    return new H1Pool({
      connect: (preface) => {
        if (preface === null)
          return options === null
            ? net.connect({ host, port, highWaterMark: READ_HIGH_WATER_MARK } as net.NetConnectOpts)
            : this.#connectTls(options, { host, port });
        const tcp = net.connect({ host, port, highWaterMark: READ_HIGH_WATER_MARK } as net.NetConnectOpts);
        // Queued until connected and written then, before any TLS byte (TLS starts on a later 'connect' listener).
        tcp.write(preface);
        return options === null ? tcp : this.#connectTls(options, { socket: tcp });
      },
      secure: options !== null,
      connectMs: this.#timeouts.connectMs,
      maxConnections: this.#config.maxconn,
    });
  }

  /**
   * A TLS connection, resuming the latest session when there is one (as undici's
   * connector does). Only a session of a connection that passed every check (chain, name,
   * pins: `secureConnect`) is kept, since Node skips the identity check on a resumed one.
   */
  #connectTls(options: ConnectionOptions, to: { host: string; port: number } | { socket: net.Socket }): tls.TLSSocket {
    // highWaterMark: Node >= 15.9, not in the types.
    const socket = tls.connect({ ...options, ...to, session: this.#session, highWaterMark: READ_HIGH_WATER_MARK } as ConnectionOptions & {
      highWaterMark: number;
    });
    let verified = false;
    let pending: Buffer | undefined;
    socket.on('session', (session: Buffer) => {
      if (verified) this.#session = session;
      else pending = session;
    });
    socket.once('secureConnect', () => {
      verified = true;
      if (pending !== undefined) this.#session = pending;
    });
    socket.once('error', this.#forgetSession);
    return socket;
  }

  #session: Buffer | undefined = undefined;
  readonly #forgetSession = (): void => {
    this.#session = undefined;
  };

  /** The pool, for tests: connections open and idle. */
  get pool(): H1Pool {
    return this.#pool;
  }

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    const head = buildRequestHead(request.method, request.path, request.headers, request.body !== null, request.upgrade, this.#defaultHost);
    if (typeof head === 'string') {
      handler.onError(new LbError('LB_ERR_BAD_REQUEST', head));
      return;
    }
    if (this.#pool.closed) {
      handler.onError(new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: upstream closed'));
      return;
    }
    const version = this.#config.proxyProtocol;
    const preface = version ? encodeProxyHeader(version, request.client) : null;
    this.#pool.acquire(new H1Attempt(this.#pool, request, handler, head, this.#timeouts.serverMs, preface));
  }

  recycle(): void {
    this.#pool.recycle();
  }

  async close(): Promise<void> {
    const { waiting, done } = this.#pool.close();
    for (const user of waiting) user.cancel(new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: upstream closed'));
    await done;
  }

  async destroy(): Promise<void> {
    const { waiting, done } = this.#pool.destroy();
    for (const user of waiting) user.cancel(new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: upstream closed'));
    await done;
  }
}

/** An HTTP/1.1 Upstream to one server, plain or over the server's pinned TLS. */
export function createH1Upstream(config: ServerConfig, timeouts: TimeoutsConfig, tlsOptions: ConnectionOptions | null): Upstream {
  return new H1Upstream(config, timeouts, tlsOptions);
}
