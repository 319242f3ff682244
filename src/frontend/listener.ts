// One frontend's listening socket: TLS (ALPN picks HTTP/2 or HTTP/1.1) or plain TCP,
// then node:http or node:http2 with the client-side timeouts, parse-error answers and
// connection accounting.
import http from 'node:http';
import http2, { type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import net from 'node:net';
import tlsModule, { type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { AlpnProtocol, FrontendConfig, TimeoutsConfig } from '../config/types.js';
import { LB_ERRORS } from '../errors.js';
import { SessionGuard, type AbuseReason } from '../h2/session-guard.js';
import type { ConnectionGate } from './connection-gate.js';
import { rawErrorResponse } from '../http1/responses.js';
import type { FrontendTls } from '../tls/frontend.js';
import type { ExchangeContext } from '../exchange/exchange.js';
import { serveH1Connection, type H1Connection } from '../h1/front/connection.js';
import { H1_ERRORS, type H1ErrorCode } from '../h1/errors.js';

/**
 * HTTP/1.1 connections (plain, and TLS without h2) go to Doorman's own engine
 * (src/h1/front/) when true, to node:http when false.
 */
const OWN_H1_FRONT = true;

/** Head limits of the own engine: node:http's 16 KiB default, so both fronts answer 431 alike. */
const H1_HEAD_LIMITS = Object.freeze({ maxHeadBytes: 16384, maxHeaders: 100 });

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
  /** An HTTP/2 stream opened (connections that negotiated h2). */
  stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]): void;
  /** A client connection opened (+1) or closed (-1). */
  connections?(delta: 1 | -1): void;
  /** An HTTP/2 connection was closed for abuse. */
  http2Abuse?(reason: AbuseReason): void;
  /** A TLS handshake failed. */
  tlsError?(err: Error): void;
  /** The raw answer to a request that could not be parsed (the frontend's error page, HSTS). */
  rawError?(status: number): string;
  /** A request could not be parsed; `status` is what the client was answered. */
  clientError?(err: Error, status: number): void;
  /** What Doorman's own HTTP/1.1 engine needs: the exchange context in force and request ids. */
  h1Front?: { readonly exchange: ExchangeContext; readonly requestId: () => string };
}

/** A frontend: its listening socket and the servers its connections are handed to. */
export interface Listener {
  /** The frontend's config; a reload may replace it (see update). */
  readonly config: FrontendConfig;
  /** Binds the socket; resolves with the real port. */
  listen(): Promise<number>;
  /** Closes the listening socket: no new connection is accepted. */
  stopAccepting(): void;
  /** Closes HTTP/1.1 connections waiting for a request; HTTP/2 sessions get GOAWAY and finish their streams. */
  closeIdle(): void;
  /** Closes every client connection now. */
  closeAll(): void;
  /**
   * A reload that kept this bind: new certificates, timeouts and handlers for the next
   * connection and the next request, on the same listening socket. TLS must stay TLS.
   */
  update(config: FrontendConfig, tls: FrontendTls | null, timeouts: TimeoutsConfig, handlers: ListenerHandlers): void;
}

/**
 * ALPN: our first protocol the client offers (our preference wins, as nginx and HAProxy
 * do); undefined refuses a client that offers only protocols we do not speak.
 */
function chooseProtocol(ours: readonly AlpnProtocol[], offered: readonly string[]): string | undefined {
  return ours.find((protocol) => offered.includes(protocol));
}

/** node:http2's settings and limits for a frontend's HTTP/2 sessions. */
function h2Options(config: FrontendConfig): http2.ServerOptions & { settings: http2.Settings } {
  return {
    settings: {
      maxConcurrentStreams: config.http2.maxConcurrentStreams,
      maxHeaderListSize: config.http2.maxHeaderListSize,
      // No extended CONNECT (RFC 8441): WebSocket over HTTP/2 is not offered.
      enableConnectProtocol: false,
    },
    maxHeaderListPairs: 256,
    // Frames nghttp2 had to reject, and streams refused past maxConcurrentStreams, before the session ends.
    maxSessionInvalidFrames: 100,
    maxSessionRejectedStreams: 100,
  };
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
  let current = { config, tls, handlers, timeouts };
  const serverOptions: http.ServerOptions = {
    ...clientTimeoutOptions(timeouts.clientMs),
    // The whole-request deadline must exceed headersTimeout; idle bodies are bounded per socket.
    requestTimeout: 0,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    noDelay: true,
  };
  // Plain HTTP/1.1 parsing for every connection that is not h2; over TLS it reads the decrypted socket.
  const server = http.createServer(serverOptions);
  // Node's own timeout would also cut a client waiting on a slow server; timeouts.server covers that.
  server.timeout = 0;
  // HTTP/2 sessions, fed TLS sockets whose ALPN chose h2.
  const h2 = http2.createServer(h2Options(config));
  const sessions = new Map<Http2Session, SessionGuard>();
  h2.on('session', (session: Http2Session) => {
    const address = session.socket?.remoteAddress;
    const guard = new SessionGuard(session, () => ({ resetsPerSecond: current.config.http2.maxResetsPerSecond }), (reason) => {
      current.handlers.http2Abuse?.(reason);
      logger.warn({ frontend: current.config.name, clientAddress: address, reason }, 'http2 connection closed for abuse');
    });
    sessions.set(session, guard);
    // Floods and protocol errors end the session in nghttp2; they are the client's problem, not ours.
    session.on('error', () => {});
    session.once('close', () => sessions.delete(session));
    // An idle session is closed gracefully after timeouts.client, like an idle keep-alive connection.
    session.setTimeout(current.timeouts.clientMs, () => session.close());
  });
  h2.on('sessionError', () => {});
  h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
    sessions.get(stream.session!)?.streamOpened(stream);
    current.handlers.stream(stream, headers, flags, rawHeaders);
  });
  // SNI goes through `current`, so a reload's certificates answer the next handshake.
  // Connections served by the own HTTP/1.1 engine, for drain.
  const h1Connections = new Set<H1Connection>();
  const ownFront = OWN_H1_FRONT && current.handlers.h1Front !== undefined;
  /** Hands an HTTP/1.1 connection to the own engine, with the settings in force now. */
  function serveOwn(socket: Socket): void {
    const { handlers, timeouts: now, config: frontendConfig } = current;
    const front = handlers.h1Front!;
    const conn = serveH1Connection(socket, {
      context: () => (current.handlers.h1Front ?? front).exchange,
      requestId: front.requestId,
      clientTimeoutMs: now.clientMs,
      headLimits: H1_HEAD_LIMITS,
      rawError: (status) => current.handlers.rawError?.(status) ?? rawErrorResponse(status),
      clientError: (status, code) => {
        const message = code in H1_ERRORS ? H1_ERRORS[code as H1ErrorCode].message : code;
        current.handlers.clientError?.(Object.assign(new Error(message), { code }), status);
        logger.info({ frontend: frontendConfig.name, status, err: code }, 'bad request');
      },
    });
    h1Connections.add(conn);
    socket.once('close', () => h1Connections.delete(conn));
  }
  const tlsServer = tls
    ? tlsModule.createServer({ ...tls.serverOptions, ALPNCallback: ({ protocols }) => chooseProtocol(current.config.alpn, protocols), SNICallback: (name, cb) => cb(null, current.tls!.contextFor(name)) }, (socket: TLSSocket) => {
        if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
        else if (ownFront) serveOwn(socket);
        else server.emit('connection', socket);
      })
    : null;
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
  // The socket listens; the http(s) server only serves what the gate admits.
  const acceptor = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    socket.on('error', () => {});
    gate.offer(socket, () => {
      const { connections } = current.handlers;
      connections?.(1);
      socket.once('close', () => connections?.(-1));
      // TLS reads through its own wrap; a plain socket must be let out of pauseOnConnect.
      if (tlsServer) tlsServer.emit('connection', socket);
      else {
        if (ownFront) serveOwn(socket);
        else server.emit('connection', socket);
        socket.resume();
      }
    });
  });
  if (tlsServer) {
    tlsServer.on('tlsClientError', (err: Error) => {
      current.handlers.tlsError?.(err);
      logger.debug({ frontend: current.config.name, err: err.message }, 'tls handshake failed');
    });
  }
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const status = statusForClientError(err.code);
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE' && socket.writable && !(socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      socket.end(current.handlers.rawError?.(status) ?? rawErrorResponse(status));
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
    closeIdle() {
      server.closeIdleConnections();
      for (const conn of h1Connections) conn.closeIdle();
      for (const session of sessions.keys()) session.close();
    },
    closeAll() {
      server.closeAllConnections();
      for (const conn of h1Connections) conn.close();
      for (const socket of upgraded) socket.destroy();
      for (const session of sessions.keys()) session.destroy();
    },
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
      current = { config: nextConfig, tls: nextTls, handlers: nextHandlers, timeouts: nextTimeouts };
      Object.assign(server, clientTimeoutOptions(nextTimeouts.clientMs));
      h2.updateSettings(h2Options(nextConfig).settings);
      // The default certificate (no or unknown SNI) and the TLS settings of new handshakes.
      if (nextTls && tlsServer) tlsServer.setSecureContext(nextTls.serverOptions);
    },
  };
}
