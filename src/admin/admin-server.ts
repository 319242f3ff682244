// The admin listener: /healthz, /metrics, /stats, and the /api routes (control/api.ts).
import http from 'node:http';
import type { Logger } from 'pino';
import { createApi, type ApiOptions } from './control/api.js';
import type { LbMetrics } from './metrics/metrics.js';
import { AdminGuard } from './guard.js';
import { sendText } from './respond.js';
import { STATS_PAGE, STATS_PAGE_CSP } from './ui/stats-page.js';

export interface AdminServerOptions extends ApiOptions {
  readonly metrics: LbMetrics;
  readonly draining: () => boolean;
  /** /metrics's text (default: this process's registry); the primary of several workers aggregates theirs. */
  readonly metricsText?: (() => Promise<string>) | undefined;
  readonly logger: Logger;
}

/** Creates the admin server (not listening yet). */
export function createAdminServer(options: AdminServerOptions): http.Server {
  const { metrics, logger } = options;
  const api = createApi(options);

  let guard: { config: unknown; guard: AdminGuard } | null = null;
  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // The guard follows a reload's admin settings.
    const config = options.config();
    if (guard?.config !== config) guard = { config, guard: new AdminGuard(config) };
    const refused = guard.guard.check(req);
    if (refused) {
      logger.warn(
        { admin: true, clientAddress: req.socket.remoteAddress, host: req.headers.host, origin: req.headers.origin, reason: refused },
        'admin request refused',
      );
      return sendText(res, 403, `${refused}\n`);
    }
    const url = new URL(req.url ?? '/', 'http://admin');
    const path = url.pathname;
    const method = req.method ?? 'GET';

    if (path === '/healthz') {
      if (options.draining()) sendText(res, 503, 'draining\n');
      else sendText(res, 200, 'ok\n');
      return;
    }
    if (path === '/metrics' && method === 'GET') {
      const text = options.metricsText ? await options.metricsText() : await metrics.registry.metrics();
      res.writeHead(200, { 'content-type': metrics.registry.contentType, 'cache-control': 'no-store' });
      res.end(text);
      return;
    }
    if ((path === '/stats' || path === '/') && method === 'GET') {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': Buffer.byteLength(STATS_PAGE),
        'cache-control': 'no-store',
        'content-security-policy': STATS_PAGE_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      });
      res.end(STATS_PAGE);
      return;
    }
    if (!path.startsWith('/api/')) {
      sendText(res, 404, 'not found\n');
      return;
    }

    await api(req, res, path);
  }

  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    route(req, res).catch((err: unknown) => {
      logger.error({ err }, 'admin request failed');
      if (!res.headersSent) sendText(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  return server;
}
