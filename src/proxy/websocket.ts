// WebSocket tunnels: an `Upgrade: websocket` request goes to the server the balancer
// picks; a 101 joins the two sockets, any other answer is relayed as a normal
// response and the connection closed. Idle tunnels obey timeouts.client.
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { UpstreamServer } from '../backend/server.js';
import type { Backend } from '../backend/backend.js';
import { downstreamResponseHeaders, inBlockList, plainAddress, upstreamRequestHeaders } from './headers.js';
import type { FrontendRoute } from './handler.js';
import { rawErrorResponse } from './responses.js';
import type { FrontendFacts } from './transaction.js';
import { classifyUpstreamError, upstreamLbError } from './upstream-error.js';

export interface UpgradeOptions {
  readonly frontend: FrontendFacts;
  readonly route: FrontendRoute;
  readonly clientTimeoutMs: number;
  readonly logger: Logger;
}

function responseHead(status: number, statusText: string, headers: readonly string[], extra: string): string {
  let head = `HTTP/1.1 ${status} ${statusText || STATUS_CODES[status] || ''}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return head + extra + '\r\n';
}

/** Builds the `upgrade` listener of one frontend. */
export function createUpgradeHandler(options: UpgradeOptions): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { frontend, route, clientTimeoutMs, logger } = options;

  return function handleUpgrade(req, client, head) {
    client.on('error', () => client.destroy());
    try {
      startUpgrade(req, client, head);
    } catch (err) {
      failed(client, err);
    }
  };

  /** A bug of ours costs one connection, never a hung client or the process. */
  function failed(client: Duplex, err: unknown) {
    logger.error({ frontend: frontend.name, err }, 'websocket upgrade failed unexpectedly');
    if (client.destroyed) return;
    if (client.writable) client.end(rawErrorResponse(500));
    else client.destroy();
  }

  function startUpgrade(req: IncomingMessage, client: Duplex, head: Buffer) {
    if (route.kind !== 'backend' || req.headers.upgrade?.toLowerCase() !== 'websocket' || req.method !== 'GET') {
      client.end(rawErrorResponse(400));
      return;
    }
    const backend = route.backend;
    const clientAddress = plainAddress(req.socket.remoteAddress);
    let preferred: UpstreamServer | undefined;
    if (backend.persistence) {
      const found = backend.persistence.cookie.lookup(req.headers.cookie, Date.now());
      const server = found.flag === 'V' ? backend.servers[found.serverIndex] : undefined;
      if (server?.takesCookieHolders()) preferred = server;
    }
    const placement = backend.place({ clientAddress, preferred });
    if (placement.kind === 'none') {
      client.end(rawErrorResponse(503));
      return;
    }
    if (placement.kind === 'wait') {
      client.once('close', placement.pending.cancel);
      placement.pending.promise.then(
        (server) => {
          client.off('close', placement.pending.cancel);
          if (client.destroyed) backend.release(server);
          else tunnel(backend, server, req, client, head, clientAddress);
        },
        () => client.end(rawErrorResponse(503)),
      ).catch((err: unknown) => failed(client, err));
      return;
    }
    tunnel(backend, placement.server, req, client, head, clientAddress);
  }

  function tunnel(backend: Backend, server: UpstreamServer, req: IncomingMessage, client: Duplex, head: Buffer, clientAddress: string) {
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        backend.release(server);
      }
    };
    let headers: string[];
    try {
      headers = forwardedHeaders(backend, req, clientAddress);
    } catch (err) {
      release();
      throw err;
    }
    let abort: ((err?: Error) => void) | null = null;
    let answered = false;
    client.once('close', () => abort?.(new Error('client closed')));

    const handler: Dispatcher.DispatchHandler = {
      onConnect(fn) {
        abort = fn;
        if (client.destroyed) fn(new Error('client closed'));
      },
      onUpgrade(statusCode, rawHeaders, upstreamDuplex: Duplex) {
        const upstream = upstreamDuplex as Socket;
        abort = null;
        const passed = downstreamResponseHeaders(rawHeaders ?? []).headers;
        client.write(responseHead(statusCode, 'Switching Protocols', passed, 'Connection: Upgrade\r\nUpgrade: websocket\r\n'));
        if (head.length > 0) upstream.write(head);
        const close = () => {
          client.destroy();
          upstream.destroy();
          release();
        };
        for (const socket of [client as Socket, upstream]) {
          socket.setTimeout(clientTimeoutMs, close);
          socket.on('error', close);
          socket.on('close', close);
        }
        upstream.pipe(client);
        client.pipe(upstream);
      },
      onHeaders(statusCode, rawHeaders, resume, statusText) {
        // Not upgraded: relay as an ordinary response, then close.
        const passed = downstreamResponseHeaders(rawHeaders).headers;
        answered = true;
        // onData returning false pauses undici; the client draining must resume it.
        client.on('drain', resume);
        return client.write(responseHead(statusCode, statusText, passed, 'Connection: close\r\n'));
      },
      onData(chunk) {
        return client.write(chunk);
      },
      onComplete() {
        release();
        client.end();
      },
      onError(err) {
        release();
        if (client.destroyed) return;
        if (answered) {
          client.destroy();
          return;
        }
        const failure = classifyUpstreamError(err);
        logger.info({ frontend: frontend.name, backend: backend.name, server: server.name, err: failure.reason }, 'websocket upstream failed');
        client.end(rawErrorResponse(upstreamLbError(failure, err).status));
      },
    };
    try {
      server.pool.dispatch({ path: req.url ?? '/', method: 'GET', headers, upgrade: 'websocket', body: null }, handler);
    } catch (err) {
      release();
      throw err;
    }
  }

  /** The upstream request headers: hop-by-hop removed, X-Forwarded-*, our cookie stripped. */
  function forwardedHeaders(backend: Backend, req: IncomingMessage, clientAddress: string): string[] {
    return upstreamRequestHeaders(
      req.rawHeaders,
      {
        clientAddress,
        proto: frontend.proto,
        port: frontend.port,
        trustClientChain: inBlockList(backend.forwardTrusted, clientAddress),
        omitForwardedFor: inBlockList(backend.forwardExcept, clientAddress),
      },
      backend.persistence?.config.indirect ? backend.persistence.strip : undefined,
      req.headers.connection,
    ).headers;
  }
}
