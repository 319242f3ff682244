// The admin listener: /metrics, /stats, /healthz and the /api routes, with an
// optional bearer token on /api compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { Logger } from 'pino';
import type { AdminConfig } from '../config/types.js';
import type { FrontendView } from '../frontend/frontend-stats.js';
import type { LbMetrics } from './metrics.js';
import type { ServerControl } from './server-control.js';
import { STATS_PAGE, STATS_PAGE_CSP } from './ui/stats-page.js';

/**
 * What a reload did: `applied: false` means the new config was refused and nothing
 * changed (`problems` are its errors); `applied: true` with problems means it is in
 * force but something could not follow (a frontend that could not bind).
 */
export interface ReloadOutcome {
  readonly applied: boolean;
  readonly problems: readonly string[];
}

/** What /api/reload calls (the same as SIGHUP). */
export type ReloadHook = () => Promise<ReloadOutcome>;

export interface AdminServerOptions {
  /** Read on every request, so a reload's new token applies at once. */
  readonly config: () => AdminConfig;
  readonly control: ServerControl;
  /** The frontends for /api/state; none when absent. */
  readonly frontends?: () => readonly FrontendView[];
  readonly metrics: LbMetrics;
  readonly draining: () => boolean;
  readonly reload?: ReloadHook;
  /** /api/state's body (default: this process's view); the primary of several workers sums theirs. */
  readonly stateView?: () => Promise<unknown>;
  /** /metrics's text (default: this process's registry); the primary of several workers aggregates theirs. */
  readonly metricsText?: () => Promise<string>;
  readonly logger: Logger;
}

const MAX_BODY_BYTES = 64 * 1024;
const STATE_ROUTE = /^\/api\/backends\/([^/]+)\/servers\/([^/]+)\/(state|weight)$/;
const ADMIN_STATES = { READY: 'READY', DRAIN: 'DRAIN', MAINT: 'MAINT' } as const;

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

function sendText(res: http.ServerResponse, status: number, text: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
  res.end(text);
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

/** 'ok', 'missing' (401) or 'wrong' (403). Hashing first makes the compare length-independent. */
function checkToken(expected: Buffer | null, header: string | undefined): 'ok' | 'missing' | 'wrong' {
  if (!expected) return 'ok';
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  if (!match) return 'missing';
  return timingSafeEqual(expected, digest(match[1]!)) ? 'ok' : 'wrong';
}

function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new Error('body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}

/** Creates the admin server (not listening yet). */
export function createAdminServer(options: AdminServerOptions): http.Server {
  const { control, metrics, logger } = options;
  let tokenDigest: { token: string | null; digest: Buffer | null } = { token: null, digest: null };
  const expected = (): Buffer | null => {
    const token = options.config().token;
    if (token !== tokenDigest.token) tokenDigest = { token, digest: token ? digest(token) : null };
    return tokenDigest.digest;
  };

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
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

    const auth = checkToken(expected(), req.headers.authorization);
    if (auth === 'missing') return sendText(res, 401, 'bearer token required\n', { 'www-authenticate': 'Bearer' });
    if (auth === 'wrong') return sendText(res, 403, 'wrong token\n');

    if (path === '/api/state' && method === 'GET') {
      // `now` is the balancer's clock: the page measures ages and rates with it, not the browser's.
      const view = options.stateView ? await options.stateView() : { frontends: options.frontends?.() ?? [], ...control.view() };
      return sendJson(res, 200, { now: new Date().toISOString(), ...(view as object) });
    }
    if (path === '/api/reload') {
      if (method !== 'POST') return sendText(res, 405, 'use POST\n', { allow: 'POST' });
      if (!options.reload) return sendText(res, 501, 'reload is not available\n');
      const { applied, problems } = await options.reload();
      if (!applied) return sendJson(res, 400, { reloaded: false, errors: problems });
      return sendJson(res, 200, problems.length === 0 ? { reloaded: true } : { reloaded: true, warnings: problems });
    }
    const match = STATE_ROUTE.exec(path);
    if (match) {
      if (method !== 'PUT') return sendText(res, 405, 'use PUT\n', { allow: 'PUT' });
      const [, backendName, serverName, what] = match as unknown as [string, string, string, 'state' | 'weight'];
      let backend: string;
      let server: string;
      try {
        backend = decodeURIComponent(backendName);
        server = decodeURIComponent(serverName);
      } catch {
        return sendJson(res, 400, { error: 'malformed percent-encoding in the path' });
      }
      if (!control.find(backend, server)) return sendJson(res, 404, { error: `no server ${backend}/${server}` });
      let body: unknown;
      try {
        body = await readJsonBody(req);
      } catch (err) {
        return sendJson(res, 400, { error: (err as Error).message });
      }
      if (what === 'state') {
        const wanted = (body as { state?: unknown } | null)?.state;
        const state = typeof wanted === 'string' ? ADMIN_STATES[wanted.toUpperCase() as keyof typeof ADMIN_STATES] : undefined;
        if (!state) return sendJson(res, 400, { error: 'body must be {"state": "READY" | "DRAIN" | "MAINT"}' });
        return sendJson(res, 200, await control.setState(backend, server, state));
      }
      const weight = (body as { weight?: unknown } | null)?.weight;
      if (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 256) {
        return sendJson(res, 400, { error: 'body must be {"weight": <integer 0..256>}' });
      }
      return sendJson(res, 200, await control.setWeight(backend, server, weight));
    }
    sendText(res, 404, 'not found\n');
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
