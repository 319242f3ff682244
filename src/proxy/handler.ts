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
    // undici sends origin-form only: absolute-form becomes its path, anything else is refused here.
    const url = req.url ?? '/';
    if (url.charCodeAt(0) !== 47 /* '/' */) {
      const origin = originForm(url);
      if (origin === null) {
        sendError(res, 400, true);
        observer.requestDone(rejected(reqId, req, 'bad-request', 400, 'request target must be a path'));
        return;
      }
      req.url = origin;
    }
    if (route.kind === 'redirect') {
      sendRedirect(res, req.headers.host ?? 'localhost', route.httpsPort(), req.url ?? '/');
      observer.requestDone(rejected(reqId, req, 'redirect', 308));
      return;
    }
    if (options.draining()) res.shouldKeepAlive = false;
    const ctx = {
      frontend,
      backend: route.backend,
      serverTimeoutMs: options.serverTimeoutMs,
      clientTimeoutMs: options.clientTimeoutMs,
      observer,
      draining: options.draining,
    };
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
      clientAddress: plainAddress(req.socket.remoteAddress),
      clientPort: req.socket.remotePort ?? 0,
      method: req.method ?? '',
      path: req.url ?? '',
      httpVersion: req.httpVersion,
      status,
      bytesOut: 0,
      bytesIn: 0,
      queueMs: -1,
      connectMs: -1,
      responseMs: -1,
      totalMs: 0,
      serverQueueAhead: 0,
      backendQueueAhead: 0,
      termination,
      retries: 0,
      redispatched: false,
      cookieIn: '-',
      cookieOut: '-',
      error,
    } as const;
  }
}

/** The path and query of an absolute-form target (`http://host/p?q`), or null. */
function originForm(target: string): string | null {
  if (!/^https?:\/\//i.test(target)) return null;
  try {
    const parsed = new URL(target);
    return parsed.pathname + parsed.search;
  } catch {
    return null;
  }
}
