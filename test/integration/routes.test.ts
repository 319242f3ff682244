// Routes through the real balancer: host and path routes to two backends, a redirect, a
// fixed answer, stripPrefix, a 404 for no route, dot segments that cannot dodge a
// route, and the hit counts and route names in /api/state and the access log.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { rawExchange, request } from '../helpers/client.js';
import { startLb, tempDir, writePair, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();

describe('routes', () => {
  let api: TestBackend;
  let web: TestBackend;
  let running: RunningLb;

  beforeAll(async () => {
    api = await startBackend({ name: 'api' });
    web = await startBackend({ name: 'web' });
    const dir = tempDir();
    const front = writePair(dir, 'front', pki.front);
    running = await startLb(
      {
        admin: { bind: '127.0.0.1:0' },
        frontends: [
          {
            name: 'https',
            bind: '127.0.0.1:0',
            tls: { certs: [front] },
            routes: [
              { name: 'api', match: { host: 'api.example', path: '/v1/' }, backend: 'api' },
              { name: 'admin', match: { path: '/admin' }, respond: { status: 403, body: 'forbidden here\n' } },
              {
                name: 'old',
                match: { path: '/old/' },
                redirect: { to: 'https://shop.example/new', status: 308, keepPath: true, keepQuery: true },
              },
              { name: 'static', match: { path: '/static/' }, backend: 'api', stripPrefix: true },
              {
                name: 'robots',
                match: { path: '/robots.txt', method: GET_ONLY },
                respond: { status: 200, body: 'User-agent: *\nDisallow:\n' },
              },
            ],
            backend: 'web',
          },
          { name: 'strict', bind: '127.0.0.1:0', routes: [{ match: { path: '/only/' }, backend: 'web' }] },
        ],
        backends: [
          { name: 'api', servers: [{ name: 'api1', address: api.address }] },
          { name: 'web', servers: [{ name: 'web1', address: web.address }] },
        ],
      },
      dir,
    );
  });

  afterAll(async () => {
    await running?.close();
    await api?.close();
    await web?.close();
  });

  const get = (path: string, host = 'shop.example') => request({ port: running.port(), ca: pki.ca.cert, path, headers: { host } });

  it('sends a host + path route to its backend and the rest to the frontend backend', async () => {
    expect((await get('/v1/users', 'api.example:8443')).body).toBe('backend=api path=/v1/users\n');
    expect((await get('/v1/users')).body).toBe('backend=web path=/v1/users\n');
  });

  it('answers a respond route itself and never forwards it, even through dot segments', async () => {
    const before = web.requests.length + api.requests.length;
    for (const path of ['/admin', '/public/../admin/users', '/%61dmin']) {
      const reply = await get(path);
      expect([reply.status, reply.body]).toEqual([403, 'forbidden here\n']);
    }
    // Sent raw: clients normalise dot segments themselves.
    const raw = await rawExchange(
      running.port(),
      'GET /public/../admin HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n',
      pki.ca.cert,
    );
    expect(raw).toMatch(/^HTTP\/1\.1 403/);
    expect(web.requests.length + api.requests.length).toBe(before);
  });

  it('redirects with path and query kept', async () => {
    const reply = await get('/old/page?id=7');
    expect(reply.status).toBe(308);
    expect(reply.headers.location).toBe('https://shop.example/new/old/page?id=7');
  });

  it('strips the matched prefix from the target the server gets', async () => {
    expect((await get('/static/css/site.css?v=3')).body).toBe('backend=api path=/css/site.css?v=3\n');
  });

  it('answers 404 on a frontend whose routes do not match and that has no backend', async () => {
    const reply = await request({ port: running.port('strict'), path: '/elsewhere' });
    expect(reply.status).toBe(404);
    expect((await request({ port: running.port('strict'), path: '/only/x' })).body).toBe('backend=web path=/only/x\n');
  });

  it('shows route hits in /api/state and the route in the access line', async () => {
    await get('/robots.txt');
    const state = (await (await fetch(`http://127.0.0.1:${running.lb.adminPort()}/api/state`)).json()) as {
      frontends: Array<{ name: string; routes: Array<{ name: string; hits: number }> }>;
    };
    const routes = state.frontends.find((f) => f.name === 'https')!.routes;
    expect(routes.map((r) => r.name)).toEqual(['api', 'admin', 'old', 'static', 'robots']);
    expect(routes.find((r) => r.name === 'robots')!.hits).toBeGreaterThanOrEqual(1);
    expect(routes.find((r) => r.name === 'admin')!.hits).toBeGreaterThanOrEqual(3);
    await waitFor(() => running.logs.some((l) => l.msg === 'access' && l.path === '/robots.txt'), 5000, 'access line');
    expect(running.logs.find((l) => l.msg === 'access' && l.path === '/robots.txt')).toMatchObject({
      route: 'robots',
      status: 200,
      termination: 'local',
      backend: '',
    });
    const metrics = await (await fetch(`http://127.0.0.1:${running.lb.adminPort()}/metrics`)).text();
    expect(metrics).toMatch(/lb_route_requests_total\{frontend="https",route="admin"\} [3-9]/);
  });
});

const GET_ONLY = ['GET', 'HEAD'];
