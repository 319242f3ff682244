// WEBSERVERID persistence end to end: insert, indirect, nocache, invalid shapes,
// DRAIN vs MAINT.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { request } from '../helpers/client.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';

const pki = testPki();
const certs = { web1: pki.selfSigned('web1'), web2: pki.selfSigned('web2') };

async function setup(cookie: Record<string, unknown>, balance = 'roundrobin') {
  const backends = [await startBackend({ name: 'web1', tls: certs.web1 }), await startBackend({ name: 'web2', tls: certs.web2 })];
  const running = await startProxy(
    pki.front,
    backends.map((b) => ({ name: b.name, address: b.address, trust: certs[b.name as 'web1' | 'web2'] })),
    { backend: { balance, cookie: { name: 'WEBSERVERID', ...cookie } }, plain: true },
  );
  return { backends, running };
}

function cookieOf(setCookie: string[] | undefined): string | undefined {
  return setCookie?.[0]?.split(';')[0];
}

describe('cookie insert indirect nocache', () => {
  let backends: TestBackend[];
  let running: RunningLb;
  beforeAll(async () => ({ backends, running } = await setup({})));
  afterAll(async () => {
    await running.close();
    for (const b of backends) await b.close();
  });

  const get = (headers: Record<string, string> = {}, port = running.port()) =>
    request({ port, ca: port === running.port() ? pki.ca.cert : undefined, headers });

  it('sets a session cookie with Path, HttpOnly and Secure on https, and Cache-Control private', async () => {
    const reply = await get();
    const setCookie = reply.headers['set-cookie']!;
    expect(setCookie).toHaveLength(1);
    expect(setCookie[0]).toMatch(/^WEBSERVERID=web[12]; Path=\/; HttpOnly; Secure$/);
    expect(reply.headers['cache-control']).toBe('private');
  });

  it('leaves Secure off on the plain frontend', async () => {
    const reply = await get({}, running.port('http'));
    expect(reply.headers['set-cookie']![0]).toMatch(/^WEBSERVERID=web[12]; Path=\/; HttpOnly$/);
  });

  it('keeps a client on its server for 1,000 requests without setting the cookie again', async () => {
    const first = await get();
    const cookie = cookieOf(first.headers['set-cookie'])!;
    const server = first.headers['x-backend'];
    for (let i = 0; i < 1000; i++) {
      const reply = await get({ cookie });
      if (reply.headers['x-backend'] !== server || reply.headers['set-cookie'] !== undefined) {
        throw new Error(`request ${i}: served by ${String(reply.headers['x-backend'])}, set-cookie ${String(reply.headers['set-cookie'])}`);
      }
    }
  });

  it('strips only our cookie upstream and keeps the others in order', async () => {
    const before = backends.reduce((n, b) => n + b.requests.length, 0);
    await get({ cookie: 'a=1; WEBSERVERID=web1; b=2; WEBSERVERIDX=3' });
    const seen = backends.flatMap((b) => b.requests).slice(before);
    const all = backends.flatMap((b) => b.requests);
    const last = all.find((r) => r.headers.cookie?.includes('a=1'))!;
    expect(seen.length).toBe(1);
    expect(last.headers.cookie).toBe('a=1; b=2; WEBSERVERIDX=3');
  });

  it('drops the Cookie header entirely when ours was the only one', async () => {
    await get({ cookie: 'WEBSERVERID=web2' });
    const last = backends[1]!.requests.at(-1)!;
    expect(last.headers.cookie).toBeUndefined();
  });

  it.each([
    ['unknown server', 'WEBSERVERID=web9'],
    ['empty value', 'WEBSERVERID='],
    ['garbage', 'WEBSERVERID=%%%'],
  ])('rebalances and sets a fresh cookie for %s', async (_what, cookie) => {
    const reply = await get({ cookie });
    expect(reply.status).toBe(200);
    expect(reply.headers['set-cookie']![0]).toMatch(/^WEBSERVERID=web[12];/);
    const access = running.logs.filter((l) => l.msg === 'access').at(-1)!;
    expect(access.cookieIn).toBe('I');
    expect(access.cookieOut).toBe('I');
  });

  it('keeps cookie holders on a DRAIN server but sends it no new clients; MAINT moves them', async () => {
    const web1 = running.lb.backends.get('web')!.server('web1')!;
    web1.setAdminState('DRAIN');
    try {
      const pinned = await get({ cookie: 'WEBSERVERID=web1' });
      expect(pinned.headers['x-backend']).toBe('web1');
      expect(pinned.headers['set-cookie']).toBeUndefined();
      for (let i = 0; i < 10; i++) expect((await get()).headers['x-backend']).toBe('web2');

      web1.setAdminState('MAINT');
      const moved = await get({ cookie: 'WEBSERVERID=web1' });
      expect(moved.headers['x-backend']).toBe('web2');
      expect(moved.headers['set-cookie']![0]).toMatch(/^WEBSERVERID=web2;/);
      expect(running.logs.filter((l) => l.msg === 'access').at(-1)!.cookieIn).toBe('D');
    } finally {
      web1.setAdminState('READY');
    }
  });
});

describe('signed cookies', () => {
  it('hides server names, refuses forged values and values signed under another secret', async () => {
    const { backends, running } = await setup({ secret: 'first-secret' });
    const rotated = await setup({ secret: 'second-secret' });
    try {
      const reply = await request({ port: running.port(), ca: pki.ca.cert });
      const cookie = cookieOf(reply.headers['set-cookie'])!;
      expect(cookie).not.toMatch(/web[12]/);
      const again = await request({ port: running.port(), ca: pki.ca.cert, headers: { cookie } });
      expect(again.headers['x-backend']).toBe(reply.headers['x-backend']);
      expect(again.headers['set-cookie']).toBeUndefined();

      for (const forged of ['WEBSERVERID=web1', `${cookie.slice(0, -2)}AA`]) {
        const r = await request({ port: running.port(), ca: pki.ca.cert, headers: { cookie: forged } });
        expect(r.headers['set-cookie'], forged).toBeDefined();
      }
      const other = await request({ port: rotated.running.port(), ca: pki.ca.cert, headers: { cookie } });
      expect(other.headers['set-cookie']).toBeDefined();
    } finally {
      for (const r of [running, rotated.running]) await r.close();
      for (const b of [...backends, ...rotated.backends]) await b.close();
    }
  });
});
