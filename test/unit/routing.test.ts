// Route decisions over request heads: first match wins, host patterns, path prefixes on
// the normalised path (no ../ or %2e escape), methods, headers, and each action.
import { describe, expect, it } from 'vitest';
import type { Backend } from '../../src/backend/backend.js';
import type { RouteConfig, RouteMatch } from '../../src/config/types.js';
import { normalizePath } from '../../src/exchange/normalize-path.js';
import type { RequestHead } from '../../src/exchange/request-head.js';
import { FrontendRouting } from '../../src/exchange/routing.js';

const api = { name: 'api' } as Backend;
const web = { name: 'web' } as Backend;
const backends = new Map([
  ['api', api],
  ['web', web],
]);

function head(target: string, extra: Partial<RequestHead> = {}): RequestHead {
  return {
    method: 'GET',
    target,
    httpVersion: '1.1',
    headers: [],
    host: 'shop.example',
    cookie: undefined,
    connection: undefined,
    hasBody: false,
    upgrade: null,
    clientAddress: '',
    clientPort: 0,
    ...extra,
  };
}

function route(name: string, match: Partial<RouteMatch>, action: RouteConfig['action']): RouteConfig {
  return { name, match: { host: null, path: null, methods: null, header: null, ...match }, action };
}

describe('normalizePath', () => {
  it.each([
    ['/a/b?x=1', '/a/b'],
    ['/api/../admin', '/admin'],
    ['/api/./v1/', '/api/v1/'],
    ['/%61dmin', '/admin'],
    ['/%2e%2e/admin', '/admin'],
    ['/a/%2Fb', '/a/%2Fb'],
    ['/a/%2fb', '/a/%2Fb'],
    ['/../../x', '/x'],
    ['/a/b/..', '/a/'],
    ['/a/b/.', '/a/b/'],
  ])('%s -> %s', (target, path) => expect(normalizePath(target)).toBe(path));
});

describe('FrontendRouting', () => {
  const routes = [
    route('api', { host: 'api.example', path: '/v1/' }, { kind: 'backend', backend: 'api', stripPrefix: false }),
    route('admin-block', { path: '/admin' }, { kind: 'respond', status: 403, body: 'no\n', type: 'text/plain' }),
    route('old', { path: '/old/' }, { kind: 'redirect', to: 'https://shop.example/new', status: 308, keepPath: true, keepQuery: true }),
    route('wild', { host: '*.cdn.example' }, { kind: 'backend', backend: 'web', stripPrefix: false }),
    route('posts', { methods: ['POST'], path: '/form' }, { kind: 'backend', backend: 'api', stripPrefix: false }),
    route('beta', { header: { name: 'x-beta', value: '1' } }, { kind: 'backend', backend: 'api', stripPrefix: false }),
    route('strip', { path: '/static/' }, { kind: 'backend', backend: 'web', stripPrefix: true }),
  ];
  const routing = new FrontendRouting(routes, backends, { kind: 'backend', backend: web });

  it('matches host exactly (port and case ignored) and the path prefix', () => {
    expect(routing.decide(head('/v1/users', { host: 'API.example:8443' }))).toMatchObject({
      kind: 'backend',
      backend: api,
      route: 'api',
      target: '/v1/users',
    });
    expect(routing.decide(head('/v1/users'))).toMatchObject({ kind: 'backend', backend: web, route: '' });
  });

  it('routes on the normalised path, so dot segments and escapes cannot dodge a route', () => {
    expect(routing.decide(head('/public/../admin/x'))).toMatchObject({ kind: 'respond', status: 403 });
    expect(routing.decide(head('/%61dmin'))).toMatchObject({ kind: 'respond', status: 403 });
  });

  it('redirects with the path and query kept', () => {
    expect(routing.decide(head('/old/page?a=1'))).toEqual({
      kind: 'redirect',
      status: 308,
      location: 'https://shop.example/new/old/page?a=1',
      route: 'old',
    });
  });

  it('matches *.suffix subdomains but not the bare suffix', () => {
    expect(routing.decide(head('/', { host: 'img.cdn.example' }))).toMatchObject({ route: 'wild' });
    expect(routing.decide(head('/', { host: 'cdn.example' }))).toMatchObject({ route: '' });
  });

  it('matches methods and header values', () => {
    expect(routing.decide(head('/form', { method: 'POST' }))).toMatchObject({ route: 'posts' });
    expect(routing.decide(head('/form'))).toMatchObject({ route: '' });
    expect(routing.decide(head('/x', { headers: ['X-Beta', '1'] }))).toMatchObject({ route: 'beta' });
    expect(routing.decide(head('/x', { headers: ['X-Beta', '2'] }))).toMatchObject({ route: '' });
  });

  it('strips the matched prefix from the target sent upstream, keeping the query', () => {
    expect(routing.decide(head('/static/css/a.css?v=2'))).toMatchObject({ backend: web, target: '/css/a.css?v=2' });
  });

  it('counts hits per route', () => {
    const fresh = new FrontendRouting(routes, backends, null);
    fresh.decide(head('/old/a'));
    fresh.decide(head('/old/b'));
    expect(fresh.view().find((r) => r.name === 'old')?.hits).toBe(2);
    expect(fresh.decide(head('/nothing'))).toEqual({ kind: 'none' });
  });
});
