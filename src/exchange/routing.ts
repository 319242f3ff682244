// Where a frontend's request goes: the first route whose match holds (host, path prefix
// on the normalised path, method, header), else the frontend's own backend or https
// redirect, else nothing (404). Pure decisions over a RequestHead; hit counts per route.
import type { Backend } from '../backend/backend.js';
import type { FrontendConfig, HeaderRules, RouteAction, RouteConfig, RouteMatch } from '../config/types.js';
import { normalizePath, queryOf } from './normalize-path.js';
import type { RequestHead } from './request-head.js';

/** What the frontend does when no route matches. */
export type Fallback =
  { readonly kind: 'backend'; readonly backend: Backend } | { readonly kind: 'https'; readonly port: () => number } | null;

export type RouteDecision =
  | {
      readonly kind: 'backend';
      readonly backend: Backend;
      readonly route: string;
      readonly target: string;
      readonly headers: HeaderRules | null;
    }
  | { readonly kind: 'redirect'; readonly status: number; readonly location: string; readonly route: string }
  | { readonly kind: 'respond'; readonly status: number; readonly body: string; readonly type: string; readonly route: string }
  | { readonly kind: 'https'; readonly port: number }
  | { readonly kind: 'none' };

/** A route as /api/state shows it. */
export interface RouteView {
  readonly name: string;
  readonly match: RouteMatch;
  readonly action: RouteAction;
  readonly hits: number;
}

/** The host of a Host value, lower-cased, without port or IPv6 brackets' port. */
function hostname(host: string): string {
  const lower = host.toLowerCase();
  if (lower.startsWith('[')) return lower.slice(0, lower.indexOf(']') + 1);
  const colon = lower.indexOf(':');
  return colon < 0 ? lower : lower.slice(0, colon);
}

function hostMatches(pattern: string, host: string): boolean {
  // `*.shop.example` matches any subdomain, not shop.example itself (as nginx and Caddy).
  return pattern.startsWith('*.') ? host.endsWith(pattern.slice(1)) : host === pattern;
}

function headerValue(head: RequestHead, name: string): string | undefined {
  const headers = head.headers;
  for (let i = 0; i < headers.length; i += 2)
    if (headers[i]!.length === name.length && headers[i]!.toLowerCase() === name) return headers[i + 1];
  return undefined;
}

function matches(match: RouteMatch, head: RequestHead, host: string, path: string): boolean {
  if (match.host !== null && !hostMatches(match.host, host)) return false;
  if (match.path !== null && !path.startsWith(match.path)) return false;
  if (match.methods !== null && !match.methods.includes(head.method)) return false;
  if (match.header !== null) {
    const value = headerValue(head, match.header.name.toLowerCase());
    if (value === undefined || (match.header.value !== null && value !== match.header.value)) return false;
  }
  return true;
}

/** `prefix` removed from `path`; what remains always starts with `/`. */
function stripPrefix(path: string, prefix: string): string {
  const rest = path.slice(prefix.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

export class FrontendRouting {
  readonly #routes: readonly RouteConfig[];
  readonly #backends: ReadonlyMap<string, Backend>;
  readonly #fallback: Fallback;
  readonly #hits: number[];

  constructor(routes: readonly RouteConfig[], backends: ReadonlyMap<string, Backend>, fallback: Fallback) {
    this.#routes = routes;
    this.#backends = backends;
    this.#fallback = fallback;
    this.#hits = routes.map(() => 0);
  }

  /** The backend named when nothing else is known (a request refused before routing). */
  get fallbackBackend(): Backend | null {
    return this.#fallback?.kind === 'backend' ? this.#fallback.backend : null;
  }

  decide(head: RequestHead): RouteDecision {
    if (this.#routes.length > 0) {
      const host = hostname(head.host);
      const path = normalizePath(head.target);
      for (let i = 0; i < this.#routes.length; i += 1) {
        const route = this.#routes[i]!;
        if (!matches(route.match, head, host, path)) continue;
        this.#hits[i]! += 1;
        return this.#act(route, head, path);
      }
    }
    const fallback = this.#fallback;
    if (fallback === null) return { kind: 'none' };
    if (fallback.kind === 'https') return { kind: 'https', port: fallback.port() };
    return { kind: 'backend', backend: fallback.backend, route: '', target: head.target, headers: null };
  }

  view(): RouteView[] {
    return this.#routes.map((route, i) => ({ name: route.name, match: route.match, action: route.action, hits: this.#hits[i]! }));
  }

  #act(route: RouteConfig, head: RequestHead, path: string): RouteDecision {
    const action = route.action;
    switch (action.kind) {
      case 'backend': {
        const target =
          action.stripPrefix && route.match.path !== null ? stripPrefix(path, route.match.path) + queryOf(head.target) : head.target;
        return { kind: 'backend', backend: this.#backends.get(action.backend)!, route: route.name, target, headers: route.headers };
      }
      case 'redirect': {
        let location = action.to;
        if (action.keepPath) location = location.replace(/\/$/, '') + path;
        if (action.keepQuery) location += queryOf(head.target);
        return { kind: 'redirect', status: action.status, location, route: route.name };
      }
      case 'respond':
        return { kind: 'respond', status: action.status, body: action.body, type: action.type, route: route.name };
    }
  }
}

/** A frontend's routing: its routes, then its backend or https redirect (to `httpsPort`). */
export function createRouting(
  frontend: FrontendConfig,
  backends: ReadonlyMap<string, Backend>,
  httpsPort: (() => number) | null,
): FrontendRouting {
  const fallback: Fallback =
    frontend.redirect === 'https' && httpsPort
      ? { kind: 'https', port: httpsPort }
      : frontend.backend
        ? { kind: 'backend', backend: backends.get(frontend.backend)! }
        : null;
  return new FrontendRouting(frontend.routes, backends, fallback);
}
