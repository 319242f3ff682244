// One frontend's listening socket: TLS (ALPN picks HTTP/2 or HTTP/1.1) or plain TCP,
// then Doorman's own HTTP/1.1 engine (src/h1/front/) or node:http2, with the client-side
// timeouts, parse-error answers and connection accounting.
import http2, { type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import net from 'node:net';
import tlsModule, { type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ConnectionAddresses } from '../client-address.js';
import type { AlpnProtocol, FrontendConfig, TimeoutsConfig } from '../config/types.js';
import { SessionGuard, type AbuseReason } from '../h2/session-guard.js';
import type { ConnectionGate } from './connection-gate.js';
import { rawErrorResponse } from '../h1/front/raw-response.js';
import { ACME_TLS_ALPN, type FrontendTls } from '../tls/frontend.js';
import type { ExchangeContext } from '../exchange/exchange.js';
import { serveH1Connection, type H1Connection, type H1FrontOptions } from '../h1/front/connection.js';
import { H1_ERRORS, type H1ErrorCode } from '../h1/errors.js';
import { acceptConnection, type AcceptPolicy } from './accept.js';
import { AddressBook } from './address-book.js';

/** Head limits of the HTTP/1.1 engine: 16 KiB (node:http's default), 100 fields. */
const H1_HEAD_LIMITS = Object.freeze({ maxHeadBytes: 16384, maxHeaders: 100 });

/** Callbacks a listener forwards its traffic to. */
export interface ListenerHandlers {
  /** What the HTTP/1.1 engine needs: the exchange context in force and request ids. */
  readonly h1Front: { readonly exchange: ExchangeContext; readonly requestId: () => string };
  /** An HTTP/2 stream opened (connections that negotiated h2) on a connection with these addresses. */
  stream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    flags: number,
    rawHeaders: string[],
    addresses: ConnectionAddresses,
  ): void;
  /** What a connection goes through between accept and TLS: the PROXY header, the client's limits. */
  readonly accept: AcceptPolicy;
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
  // HTTP/2 sessions, fed TLS sockets whose ALPN chose h2.
  const h2 = http2.createServer(h2Options(config));
  const sessions = new Map<Http2Session, SessionGuard>();
  // The addresses decided at accept: a TLS socket finds its connection's in the book.
  const book = new AddressBook();
  const sessionAddresses = new WeakMap<Http2Session, ConnectionAddresses>();
  h2.on('session', (session: Http2Session) => {
    const addresses = book.of(session.socket);
    sessionAddresses.set(session, addresses);
    const address = addresses.clientAddress;
    const guard = new SessionGuard(
      session,
      () => ({ resetsPerSecond: current.config.http2.maxResetsPerSecond }),
      (reason) => {
        current.handlers.http2Abuse?.(reason);
        logger.warn({ frontend: current.config.name, clientAddress: address, reason }, 'http2 connection closed for abuse');
      },
    );
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
    current.handlers.stream(stream, headers, flags, rawHeaders, sessionAddresses.get(stream.session!)!);
  });
  // SNI goes through `current`, so a reload's certificates answer the next handshake.
  // Connections served by the own HTTP/1.1 engine, for drain.
  const h1Connections = new Set<H1Connection>();
  const forget = (conn: H1Connection) => h1Connections.delete(conn);
  /**
   * The engine's settings in force, made per config and shared by its connections: the
   * timeout, request ids and frontend name are this config's; the exchange context and
   * error answers are looked up in `current` when used.
   */
  function h1Options(): H1FrontOptions {
    const { handlers, timeouts: now, config: frontendConfig } = current;
    return {
      context: () => current.handlers.h1Front.exchange,
      requestId: handlers.h1Front.requestId,
      clientTimeoutMs: now.clientMs,
      headLimits: H1_HEAD_LIMITS,
      rawError: (status) => current.handlers.rawError?.(status) ?? rawErrorResponse(status),
      clientError: (status, code) => {
        const message = code in H1_ERRORS ? H1_ERRORS[code as H1ErrorCode].message : code;
        current.handlers.clientError?.(Object.assign(new Error(message), { code }), status);
        logger.info({ frontend: frontendConfig.name, status, err: code }, 'bad request');
      },
      closed: forget,
    };
  }
  let h1Settings = h1Options();
  /** Hands an HTTP/1.1 connection to the own engine, with the settings in force now. */
  function serveOwn(socket: Socket, addresses: ConnectionAddresses): void {
    h1Connections.add(serveH1Connection(socket, addresses, h1Settings));
  }
  const tlsServer = tls
    ? tlsModule.createServer(
        {
          ...tls.serverOptions,
          // Node calls both with the handshake's TLSSocket as `this`: a tls-alpn-01 validation is
          // recognised by its ALPN and answered with the challenge certificate (see FrontendTls).
          ALPNCallback(this: TLSSocket, { servername, protocols }) {
            return current.tls!.acmeChallenge(this, servername, protocols) ? ACME_TLS_ALPN : chooseProtocol(current.config.alpn, protocols);
          },
          SNICallback(this: TLSSocket, name, cb) {
            cb(null, current.tls!.contextFor(name, this));
          },
        },
        (socket: TLSSocket) => {
          // A validation handshake carries nothing else (RFC 8737).
          if (socket.alpnProtocol === ACME_TLS_ALPN) socket.end();
          else if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
          else serveOwn(socket, book.of(socket));
        },
      )
    : null;
  // The socket listens; the http(s) server only serves what the gate admits.
  const acceptor = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket) => {
    socket.on('error', () => {});
    gate.offer(socket, () =>
      acceptConnection(socket, current.handlers.accept, (addresses, carried) => {
        const { connections } = current.handlers;
        connections?.(1);
        socket.on('close', () => connections?.(-1));
        // TLS reads through its own wrap; a plain socket must be let out of pauseOnConnect.
        if (tlsServer) {
          if (carried) book.remember(socket, addresses);
          tlsServer.emit('connection', socket);
        } else {
          serveOwn(socket, addresses);
          socket.resume();
        }
      }),
    );
  });
  if (tlsServer) {
    tlsServer.on('tlsClientError', (err: Error) => {
      current.handlers.tlsError?.(err);
      logger.debug({ frontend: current.config.name, err: err.message }, 'tls handshake failed');
    });
  }
  return {
    get config() {
      return current.config;
    },
    closeIdle() {
      for (const conn of h1Connections) conn.closeIdle();
      for (const session of sessions.keys()) session.close();
    },
    closeAll() {
      for (const conn of h1Connections) conn.close();
      for (const session of sessions.keys()) session.destroy();
    },
    listen: () =>
      new Promise<number>((resolve, reject) => {
        acceptor.once('error', reject);
        acceptor.listen({ host: config.bind.host, port: config.bind.port }, () => {
          acceptor.off('error', reject);
          const address = acceptor.address();
          resolve(typeof address === 'object' && address ? address.port : config.bind.port);
        });
      }),
    stopAccepting: () => {
      if (acceptor.listening) acceptor.close();
    },
    update(nextConfig, nextTls, nextTimeouts, nextHandlers) {
      if ((nextTls === null) !== (current.tls === null))
        throw new Error(`frontend ${nextConfig.name}: cannot switch TLS on a running listener`);
      current = { config: nextConfig, tls: nextTls, handlers: nextHandlers, timeouts: nextTimeouts };
      h1Settings = h1Options();
      h2.updateSettings(h2Options(nextConfig).settings);
      // The default certificate (no or unknown SNI) and the TLS settings of new handshakes.
      if (nextTls && tlsServer) tlsServer.setSecureContext(nextTls.serverOptions);
    },
  };
}
