// The runtime API under /api: state, operator changes and reload, behind an optional
// bearer token compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { ADMIN_STATES } from '../../backend/server.js';
import type { CertificateView } from '../../acme/inventory.js';
import type { AdminConfig } from '../../config/types.js';
import type { FrontendView } from '../../frontend/frontend-stats.js';
import { sendJson, sendText } from '../respond.js';
import type { ServerControl } from './server-control.js';

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

export interface ApiOptions {
  /** Read on every request, so a reload's new token applies at once. */
  readonly config: () => AdminConfig;
  readonly control: ServerControl;
  /** The frontends for /api/state; none when absent. */
  readonly frontends?: () => readonly FrontendView[];
  readonly reload?: ReloadHook | undefined;
  /** /api/state's body (default: this process's view); the primary of several workers sums theirs. */
  readonly stateView?: (() => Promise<unknown>) | undefined;
  /** /api/certs: every certificate the frontends serve, files and ACME. */
  readonly certificates?: (() => readonly CertificateView[]) | undefined;
}

const MAX_BODY_BYTES = 64 * 1024;
const STATE_ROUTE = /^\/api\/backends\/([^/]+)\/servers\/([^/]+)\/(state|weight)$/;

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

/** Answers one /api request (`path` is its pathname). */
export function createApi(options: ApiOptions): (req: http.IncomingMessage, res: http.ServerResponse, path: string) => Promise<void> {
  const { control } = options;
  let tokenDigest: { token: string | null; digest: Buffer | null } = { token: null, digest: null };
  const expected = (): Buffer | null => {
    const token = options.config().token;
    if (token !== tokenDigest.token) tokenDigest = { token, digest: token ? digest(token) : null };
    return tokenDigest.digest;
  };

  return async function api(req, res, path) {
    const method = req.method ?? 'GET';
    const auth = checkToken(expected(), req.headers.authorization);
    if (auth === 'missing') return sendText(res, 401, 'bearer token required\n', { 'www-authenticate': 'Bearer' });
    if (auth === 'wrong') return sendText(res, 403, 'wrong token\n');

    if (path === '/api/state' && method === 'GET') {
      // `now` is the balancer's clock: the page measures ages and rates with it, not the browser's.
      const view = options.stateView ? await options.stateView() : { frontends: options.frontends?.() ?? [], ...control.view() };
      return sendJson(res, 200, { now: new Date().toISOString(), ...(view as object) });
    }
    if (path === '/api/certs' && method === 'GET') {
      return sendJson(res, 200, { certs: options.certificates?.() ?? [] });
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
        const state = typeof wanted === 'string' ? ADMIN_STATES.find((s) => s === wanted.toUpperCase()) : undefined;
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
  };
}
