// Header rules (frontend, route, backend; both directions, with variables), HSTS on every
// response including Doorman's own errors, and X-Request-Id.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { request } from '../helpers/client.js';
import { startLb, tempDir, writePair, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();

describe('header rules, HSTS and X-Request-Id', () => {
  let web: TestBackend;
  let running: RunningLb;

  beforeAll(async () => {
    web = await startBackend({
      name: 'web',
      handler: (req, res) => {
        res.writeHead(200, { server: 'webserver/1.0', 'x-internal': 'secret', 'content-type': 'text/plain' });
        res.end(`ok ${req.url}\n`);
      },
    });
    const dir = tempDir();
    const front = writePair(dir, 'front', pki.front);
    running = await startLb(
      {
        frontends: [
          {
            name: 'https',
            bind: '127.0.0.1:0',
            tls: { certs: [front] },
            hsts: { maxAge: '1y', includeSubDomains: true },
            headers: {
              request: { set: { 'X-Order': 'frontend', 'X-Client': '%{client_ip} ssl=%{ssl}' }, add: { 'X-Trail': 'frontend' } },
              response: { set: { 'X-Frame-Options': 'DENY' }, remove: ['Server'] },
            },
            routes: [
              {
                match: { path: '/routed/' },
                backend: 'web',
                headers: { request: { set: { 'X-Order': 'route' }, add: { 'X-Trail': 'route' } } },
              },
              { match: { path: '/missing' }, backend: 'dead' },
            ],
            backend: 'web',
          },
        ],
        backends: [
          {
            name: 'web',
            forwardFor: { trusted: ['10.0.0.0/8'] },
            headers: {
              request: { set: { 'X-Order': 'backend' }, remove: ['X-Drop'] },
              response: { add: { 'X-Served-By': '%{server}' }, remove: ['X-Internal'] },
            },
            servers: [{ name: 'web1', address: web.address }],
          },
          { name: 'dead', retries: 0, servers: [{ name: 'gone', address: '127.0.0.1:9' }] },
        ],
      },
      dir,
    );
  });

  afterAll(async () => {
    await running?.close();
    await web?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => request({ port: running.port(), ca: pki.ca.cert, path, headers });

  it('applies request rules frontend, then route, then backend, with variables', async () => {
    await get('/routed/a', { 'x-drop': 'me' });
    const seen = web.requests.at(-1)!;
    expect(seen.headers['x-order']).toBe('backend');
    expect(seen.headers['x-client']).toBe('127.0.0.1 ssl=1');
    expect(seen.headers['x-trail']).toBe('frontend, route');
    expect(seen.headers['x-drop']).toBeUndefined();
  });

  it('applies response rules and adds HSTS', async () => {
    const reply = await get('/plain');
    expect(reply.headers['x-frame-options']).toBe('DENY');
    expect(reply.headers.server).toBeUndefined();
    expect(reply.headers['x-internal']).toBeUndefined();
    expect(reply.headers['x-served-by']).toBe('web1');
    expect(reply.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
  });

  it('puts HSTS and the frontend rules on Doorman’s own error answers too', async () => {
    const reply = await get('/missing');
    expect(reply.status).toBe(502);
    expect(reply.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    expect(reply.headers['x-frame-options']).toBe('DENY');
  });

  it('generates an X-Request-Id, the same one the access line shows, and drops an untrusted client’s', async () => {
    await get('/id', { 'x-request-id': 'client-chosen' });
    const seen = web.requests.at(-1)!;
    const id = String(seen.headers['x-request-id']);
    expect(id).not.toBe('client-chosen');
    expect(id.length).toBeGreaterThan(3);
    await waitFor(() => running.logs.some((l) => l.msg === 'access' && l.path === '/id'), 5000, 'access line');
    expect(running.logs.find((l) => l.msg === 'access' && l.path === '/id')!.reqId).toBe(id);
  });
});
