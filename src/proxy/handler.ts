// The entry of every request on a frontend: validation, redirect, then a
// ProxyTransaction that carries it to a server.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Backend } from '../backend/backend.js';
import { plainAddress } from './headers.js';
import { sendError, sendRedirect } from './responses.js';
import { ProxyTransaction, type FrontendFacts, type TransactionObserver } from './transaction.js';

/** What a frontend routes to: a backend, or a redirect to the https frontend. */
export type FrontendRoute =
  | { readonly kind: 'backend'; readonly backend: Backend }
  | { readonly kind: 'redirect'; readonly httpsPort: () => number };

export interface HandlerOptions {
  readonly frontend: FrontendFacts;
  readonly route: FrontendRoute;
  readonly serverTimeoutMs: number;
  /** Idle limit while receiving a request body. */
  readonly clientTimeoutMs: number;
  readonly observer: TransactionObserver;
  readonly draining: () => boolean;
  /** Makes request ids unique across processes. */
  readonly idPrefix: string;
  readonly logger: Logger;
}

/** Counts `host` header lines: Node keeps only the first of several. */
function hostHeaderCount(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') count += 1;
  }
  return count;
}

/** Builds the `request` listener of one frontend. */
export function createRequestHandler(options: HandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  let sequence = 0;
  const { frontend, route, observer } = options;

  return function handleRequest(req, res) {
    const reqId = `${options.idPrefix}${(++sequence).toString(36)}`;
    if (hostHeaderCount(req.rawHeaders) > 1) {
      sendError(res, 400, true);
      observer.requestDone(rejected(reqId, req, 'bad-request', 400, 'duplicate host header'));
      return;
    }
    if (route.kind === 'redirect') {
      sendRedirect(res, req.headers.host ?? 'localhost', route.httpsPort(), req.url ?? '/');
      observer.requestDone(rejected(reqId, req, 'redirect', 308));
      return;
    }
    if (options.draining()) res.shouldKeepAlive = false;
    if (req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined) {
      boundBodyIdleTime(req, options.clientTimeoutMs);
    }
    const ctx = { frontend, backend: route.backend, serverTimeoutMs: options.serverTimeoutMs, observer, draining: options.draining };
    try {
      new ProxyTransaction(req, res, ctx, reqId, plainAddress(req.socket.remoteAddress)).start();
    } catch (err) {
      // A bug of ours must cost one request, never the process or a hung client.
      options.logger.error({ reqId, err }, 'request failed unexpectedly');
      if (!res.headersSent) sendError(res, 500, true);
      else res.destroy();
      observer.requestDone(rejected(reqId, req, 'internal-error', 500, (err as Error).message));
    }
  };

  function rejected(reqId: string, req: IncomingMessage, termination: 'bad-request' | 'redirect' | 'internal-error', status: number, error?: string) {
    return {
      reqId,
      frontend: frontend.name,
      backend: route.kind === 'backend' ? route.backend.name : '',
      server: '',
      method: req.method ?? '',
      path: req.url ?? '',
      status,
      bytesOut: 0,
      bytesIn: 0,
      queueMs: -1,
      connectMs: -1,
      responseMs: -1,
      totalMs: 0,
      termination,
      retries: 0,
      redispatched: false,
      cookieIn: 'N',
      cookieOut: 'N',
      error,
    } as const;
  }
}

/** A client that stops sending its body for timeouts.client loses its connection. */
function boundBodyIdleTime(req: IncomingMessage, clientTimeoutMs: number): void {
  const socket = req.socket;
  const onIdle = () => socket.destroy();
  const clear = () => {
    socket.setTimeout(0);
    socket.off('timeout', onIdle);
    req.off('end', clear);
    req.off('close', clear);
  };
  socket.setTimeout(clientTimeoutMs);
  socket.on('timeout', onIdle);
  req.once('end', clear);
  req.once('close', clear);
}
