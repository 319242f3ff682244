// What the /stats page stands on, without a browser: the facts /api/state adds for it
// (frontends, the balancer's clock, the check settings and health counter) and the
// page itself: self-contained, its inline script allowed by the CSP and valid JavaScript.
import { createHash } from 'node:crypto';
import https from 'node:https';
import { Script } from 'node:vm';
import { afterEach, describe, expect, it } from 'vitest';
import { admin } from '../helpers/admin.js';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { request } from '../helpers/client.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();
const certs = { web1: pki.selfSigned('web1'), web2: pki.selfSigned('web2') };
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface State {
  now: string;
  frontends: Array<{
    name: string;
    bind: string;
    tls: boolean;
    backend: string | null;
    redirect: string | null;
    connections: number;
    requests: number;
    errors: number;
  }>;
  backends: Array<{
    name: string;
    check: { path: string; intervalMs: number; timeoutMs: number; rise: number; fall: number } | null;
    servers: Array<{ name: string; state: string; health: string; healthCounter: number | null; requests: number; errors: number }>;
  }>;
}

async function state(running: RunningLb): Promise<State> {
  const reply = await admin(running, '/api/state');
  expect(reply.status).toBe(200);
  return reply.json as State;
}

/** Two TLS servers behind an https and an http frontend; checks only when run by hand. */
async function twoServers(check: Record<string, unknown> | null): Promise<{ running: RunningLb; web1: TestBackend }> {
  const web1 = await startBackend({ name: 'web1', tls: certs.web1 });
  cleanups.push(web1.close);
  const web2 = await startBackend({ name: 'web2', tls: certs.web2 });
  cleanups.push(web2.close);
  const running = await startProxy(
    pki.front,
    [
      { name: 'web1', address: web1.address, trust: certs.web1 },
      { name: 'web2', address: web2.address, trust: certs.web2 },
    ],
    { plain: true, backend: check ? { check } : {}, top: { admin: { bind: '127.0.0.1:0' } } },
  );
  cleanups.push(() => running.close());
  // The tests drive the checks with runOnce(): no timer interferes.
  await running.lb.health.checker.stop();
  return { running, web1 };
}

describe('/api/state for the stats page', () => {
  it('has the balancer clock, the frontends with their counts, and the check settings', async () => {
    const { running } = await twoServers({ path: '/health', interval: '60s', timeout: '1s', rise: 2, fall: 3 });
    const before = Date.now();
    const view = await state(running);
    expect(Math.abs(Date.parse(view.now) - before)).toBeLessThan(5_000);
    expect(view.frontends).toEqual([
      {
        name: 'https',
        bind: `127.0.0.1:${running.port('https')}`,
        tls: true,
        backend: 'web',
        redirect: null,
        connections: 0,
        requests: 0,
        errors: 0,
        routes: [],
      },
      {
        name: 'http',
        bind: `127.0.0.1:${running.port('http')}`,
        tls: false,
        backend: 'web',
        redirect: null,
        connections: 0,
        requests: 0,
        errors: 0,
        routes: [],
      },
    ]);
    expect(view.backends[0]!.check).toEqual({ path: '/health', intervalMs: 60_000, timeoutMs: 1_000, rise: 2, fall: 3 });
    // A new server starts at counter = rise: UP, and the first failed check takes it down.
    expect(view.backends[0]!.servers.map((s) => s.healthCounter)).toEqual([2, 2]);
  });

  it('counts open connections, requests and 5xx answers per frontend', async () => {
    const { running } = await twoServers(null);
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => Promise.resolve(agent.destroy()));
    await request({ port: running.port('https'), ca: pki.ca.cert, path: '/a', agent });
    const open = await state(running);
    expect(open.frontends.find((f) => f.name === 'https')).toMatchObject({ connections: 1, requests: 1, errors: 0 });

    // Every server in MAINT: Doorman itself answers 503, an error of the frontend.
    for (const server of ['web1', 'web2'])
      await admin(running, `/api/backends/web/servers/${server}/state`, { method: 'PUT', body: { state: 'MAINT' } });
    const reply = await request({ port: running.port('https'), ca: pki.ca.cert, path: '/b', agent });
    expect(reply.status).toBe(503);
    agent.destroy();
    // The destroyed agent's connection leaves the count once the balancer sees it close.
    await waitFor(async () => (await state(running)).frontends[0]!.connections === 0, 5_000, 'the https frontend to count no connection');
    const after = await state(running);
    expect(after.frontends[0]).toMatchObject({ connections: 0, requests: 2, errors: 1 });
    expect(after.frontends[1]).toMatchObject({ requests: 0 });
  });

  it('shows the health counter moving while a server is going down, and null without checks', async () => {
    const { running, web1 } = await twoServers({ path: '/health', interval: '60s', timeout: '1s', rise: 2, fall: 3 });
    await running.lb.health.checker.runOnce('web/web1');
    expect((await state(running)).backends[0]!.servers[0]).toMatchObject({ state: 'UP', health: 'UP', healthCounter: 4 });

    // From here web1's checks fail: the counter goes from rise+fall-1 = 4 to 3, 2 (still UP), then 0.
    web1.setHandler((_req, res) => res.writeHead(503).end());
    const steps: Array<[state: string, health: string, counter: number]> = [
      ['UP', 'UP 2/3 (going down)', 3],
      ['UP', 'UP 1/3 (going down)', 2],
      ['DOWN', 'DOWN', 0],
    ];
    for (const [expectedState, health, counter] of steps) {
      await running.lb.health.checker.runOnce('web/web1');
      expect((await state(running)).backends[0]!.servers[0]).toMatchObject({ state: expectedState, health, healthCounter: counter });
    }

    const unchecked = await twoServers(null);
    expect((await state(unchecked.running)).backends[0]).toMatchObject({
      check: null,
      servers: [{ healthCounter: null }, { healthCounter: null }],
    });
  });
});

describe('GET /stats', () => {
  it('is one self-contained page whose inline script and style the CSP allows by hash', async () => {
    const { running } = await twoServers(null);
    const reply = await admin(running, '/stats');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = reply.text;
    // No CDN, no second request: nothing is loaded from anywhere.
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);

    const csp = reply.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
    const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
    const styles = [...html.matchAll(/<style>([\s\S]*?)<\/style>/g)].map((m) => m[1]!);
    expect(scripts).toHaveLength(1);
    expect(styles).toHaveLength(1);
    expect(csp).toContain(`script-src ${hash(scripts[0]!)}`);
    expect(csp).toContain(`style-src ${hash(styles[0]!)}`);
    // Parses as JavaScript (the browser test runs it).
    expect(() => new Script(scripts[0]!)).not.toThrow();
  });
});
