// One frontend's listening socket: an http or https server with the client-side
// timeouts, parse-error answers and connection accounting.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { FrontendConfig, TimeoutsConfig } from '../config/types.js';
import { LB_ERRORS } from '../errors.js';
import type { ConnectionGate } from './connection-gate.js';
import { rawErrorResponse } from '../http1/responses.js';
import type { FrontendTls } from '../tls/frontend.js';

/** Status for a request the parser rejected, by Node's error code. */
function statusForClientError(code: string | undefined): number {
  if (code === 'HPE_HEADER_OVERFLOW') return LB_ERRORS.LB_ERR_HEADERS_TOO_LARGE.status;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT' || code === 'ERR_HTTP_HEADERS_TIMEOUT') return LB_ERRORS.LB_ERR_REQUEST_TIMEOUT.status;
  return LB_ERRORS.LB_ERR_BAD_REQUEST.status;
}

/** An upgrade request Doorman tunnels: `Upgrade: websocket`. */
function isWebSocket(req: http.IncomingMessage): boolean {
  return req.headers.upgrade?.trim().toLowerCase() === 'websocket';
}

function hasBody(req: http.IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Serves a bodiless request that asked for another protocol (e.g. `Upgrade: h2c` from
 * `curl --http2`) as an ordinary request: RFC 9110 §7.8 lets a server ignore Upgrade,
 * and Node hands every Upgrade request to the `upgrade` event once we listen to it.
 * The connection closes after the response.
 */
function serveWithoutUpgrade(req: http.IncomingMessage, socket: Socket, onRequest: ListenerHandlers['request']): void {
  socket.on('error', () => socket.destroy());
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.once('finish', () => socket.destroySoon());
  onRequest(req, res);
}

/** Callbacks a listener forwards its traffic to. */
export interface ListenerHandlers {
  request(req: http.IncomingMessage, res: http.ServerResponse): void;
  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** A client connection opened (+1) or closed (-1). */
  connections?(delta: 1 | -1): void;
  /** A TLS handshake failed. */
  tlsError?(err: Error): void;
  /** A request could not be parsed; `status` is what the client was answered. */
  clientError?(err: Error, status: number): void;
}

/** A frontend: its listening socket and the http(s) server its connections are handed to. */
export interface Listener {
  /** The frontend's config; a reload may replace it (see update). */
  readonly config: FrontendConfig;
  /** Serves the connections; it never listens itself. */
  readonly server: http.Server;
  /** Binds the socket; resolves with the real port. */
  listen(): Promise<number>;
  /** Closes the listening socket: no new connection is accepted. */
  stopAccepting(): void;
  /**
   * A reload that kept this bind: new certificates, timeouts and handlers for the next
   * connection and the next request, on the same listening socket. TLS must stay TLS.
   */
  update(config: FrontendConfig, tls: FrontendTls | null, timeouts: TimeoutsConfig, handlers: ListenerHandlers): void;
}

/** Node's client-side timers for `timeouts.client`. */
function clientTimeoutOptions(clientMs: number) {
  return {
    headersTimeout: clientMs,
    keepAliveTimeout: clientMs,
    connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(clientMs / 4))),
  };
}

/**
 * Creates the server for a frontend. `timeouts.client` bounds the time to receive
 * request headers and keep-alive idleness; the check interval is short so a
 * slowloris connection is closed within about a second of its deadline.
 */
export function createListener(
  config: FrontendConfig,
  tls: FrontendTls | null,
  timeouts: TimeoutsConfig,
  handlers: ListenerHandlers,
  logger: Logger,
  gate: ConnectionGate,
): Listener {
  let current = { config, tls, handlers };
  const serverOptions: http.ServerOptions = {
    ...clientTimeoutOptions(timeouts.clientMs),
    // The whole-request deadline must exceed headersTimeout; idle bodies are bounded per socket.
    requestTimeout: 0,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    noDelay: true,
  };
  // SNI goes through `current`, so a reload's certificates answer the next handshake.
  const server = tls
    ? https.createServer({ ...serverOptions, ...tls.serverOptions, SNICallback: (name, cb) => cb(null, current.tls!.contextFor(name)) })
    : http.createServer(serverOptions);
  // Node's own timeout would also cut a client waiting on a slow server; timeouts.server covers that.
  server.timeout = 0;

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => current.handlers.request(req, res));
  // Upgraded connections leave Node's connection tracking (closeAllConnections no longer
  // sees them) and undici's pools: keep them here so closing the server still reaches them.
  const upgraded = new Set<Duplex>();
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    if (isWebSocket(req) || hasBody(req)) current.handlers.upgrade(req, socket, head);
    else serveWithoutUpgrade(req, socket as Socket, current.handlers.request);
  });
  const closeTrackedConnections = server.closeAllConnections.bind(server);
  server.closeAllConnections = () => {
    closeTrackedConnections();
    for (const socket of upgraded) socket.destroy();
  };
  // The socket listens; the http(s) server only serves what the gate admits.
  const acceptor = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    socket.on('error', () => {});
    gate.offer(socket, () => {
      const { connections } = current.handlers;
      connections?.(1);
      socket.once('close', () => connections?.(-1));
      server.emit('connection', socket);
      // TLS reads through its own wrap; a plain socket must be let out of pauseOnConnect.
      if (!current.tls) socket.resume();
    });
  });
  if (tls) {
    server.on('tlsClientError', (err: Error) => {
      current.handlers.tlsError?.(err);
      logger.debug({ frontend: current.config.name, err: err.message }, 'tls handshake failed');
    });
  }
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const status = statusForClientError(err.code);
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE' && socket.writable && !(socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      socket.end(rawErrorResponse(status));
    } else {
      socket.destroy();
    }
    // The client went away: not a bad request.
    if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return;
    current.handlers.clientError?.(err, status);
    logger.info({ frontend: current.config.name, status, err: err.code ?? err.message }, 'bad request');
  });

  return {
    get config() {
      return current.config;
    },
    server,
    listen: () =>
      new Promise<number>((resolve, reject) => {
        acceptor.once('error', reject);
        acceptor.listen({ host: config.bind.host, port: config.bind.port }, () => {
          acceptor.off('error', reject);
          // Node starts its connection tracking (headersTimeout checks, closeIdleConnections)
          // on 'listening'; this server never listens itself, so it is told here.
          server.emit('listening');
          const address = acceptor.address();
          resolve(typeof address === 'object' && address ? address.port : config.bind.port);
        });
      }),
    stopAccepting: () => {
      if (acceptor.listening) acceptor.close();
    },
    update(nextConfig, nextTls, nextTimeouts, nextHandlers) {
      if ((nextTls === null) !== (current.tls === null)) throw new Error(`frontend ${nextConfig.name}: cannot switch TLS on a running listener`);
      current = { config: nextConfig, tls: nextTls, handlers: nextHandlers };
      Object.assign(server, clientTimeoutOptions(nextTimeouts.clientMs));
      // The default certificate (no or unknown SNI) and the TLS settings of new handshakes.
      if (nextTls) (server as https.Server).setSecureContext(nextTls.serverOptions);
    },
  };
}
