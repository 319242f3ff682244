// The health checker wired into a running balancer: real TLS backends stopped and
// restarted, pinned certificates, a flapping server, passive mark-down and the
// all-servers-down path. State is read where an operator reads it: /api/state,
// /metrics, the log, and the traffic itself.
import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { spkiPin } from '../../src/tls/pin.js';
import { admin, apiServer, listenOnPort, metric, scrape } from '../helpers/admin.js';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { request } from '../helpers/client.js';
import { startProxy, type ProxyOptions, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();
const certs = { web1: pki.selfSigned('web1'), web2: pki.selfSigned('web2') };
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const WARN = 40;
// Each check is a fresh TLS handshake: an 80 ms timeout was too short for a healthy server
// on a loaded 2-core machine (two slow handshakes in a row marked web2 DOWN).
const FAST_CHECK = { path: '/health', interval: '300ms', timeout: '250ms', rise: 2, fall: 2 };
const INTERVAL_MS = 300;
const TIMEOUT_MS = 250;
/** Scheduling slack on a busy test machine; the loop's own jitter is ±10%. */
const SLACK_MS = 1_500;

async function backend(
  name: 'web1' | 'web2',
  handler?: Parameters<typeof startBackend>[0]['handler'],
  port?: number,
): Promise<TestBackend> {
  const b = await startBackend({ name, tls: certs[name], ...(handler ? { handler } : {}), ...(port ? { port } : {}) });
  cleanups.push(b.close);
  return b;
}

async function proxy(backends: readonly TestBackend[], options: ProxyOptions = {}): Promise<RunningLb> {
  const running = await startProxy(
    pki.front,
    backends.map((b) => ({ name: b.name, address: b.address, trust: certs[b.name as 'web1' | 'web2'] })),
    { ...options, top: { admin: { bind: '127.0.0.1:0' }, ...options.top } },
  );
  cleanups.push(() => running.close());
  return running;
}

function server(running: RunningLb, name: string) {
  return running.lb.backends.get('web')!.server(name)!;
}

function transitionLogs(running: RunningLb, name: string) {
  return running.logs.filter((l) => l.level === WARN && l.server === name && (l.to === 'UP' || l.to === 'DOWN') && 'reason' in l);
}

/** Traffic requests a backend received (health probes left out). */
function traffic(b: TestBackend): number {
  return b.requests.filter((r) => r.url !== '/health').length;
}

/** Answers /health with the status `health()` gives, anything else with 200. */
function healthHandler(name: string, health: () => number) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const status = req.url === '/health' ? health() : 200;
    res.writeHead(status, { 'content-type': 'text/plain', 'x-backend': name });
    res.end(`${name} ${status}\n`);
  };
}

describe('a backend stopped and restarted', () => {
  it('goes DOWN within fall × interval + timeout, shows it everywhere, and comes back UP within rise × interval', async () => {
    // web1 comes back on its port: one no other process's listen(0) can take meanwhile.
    const web1 = await backend('web1', undefined, await freePort());
    const web2 = await backend('web2');
    const running = await proxy([web1, web2], { backend: { check: FAST_CHECK } });
    const web1Port = web1.port;

    expect(server(running, 'web1').state).toBe('UP');
    const stoppedAt = Date.now();
    await web1.close();
    const downDeadline = 2 * INTERVAL_MS * 1.1 + TIMEOUT_MS + SLACK_MS;
    await waitFor(() => server(running, 'web1').state === 'DOWN', downDeadline, 'web1 DOWN');
    expect(Date.now() - stoppedAt).toBeLessThan(downDeadline);

    const view = await apiServer(running, 'web', 'web1');
    expect(view.state).toBe('DOWN');
    expect(view.lastCheck?.status).toBe('failed');
    expect((await apiServer(running, 'web', 'web2')).state).toBe('UP');

    const samples = await scrape(running);
    expect(metric(samples, 'lb_server_up', { backend: 'web', server: 'web1' })).toBe(0);
    expect(metric(samples, 'lb_server_up', { backend: 'web', server: 'web2' })).toBe(1);

    // Several more failed checks: still exactly one transition line.
    const failuresNow = metric(samples, 'lb_server_check_failures_total', { backend: 'web', server: 'web1' }) ?? 0;
    await waitFor(
      async () =>
        (metric(await scrape(running), 'lb_server_check_failures_total', { backend: 'web', server: 'web1' }) ?? 0) >= failuresNow + 3,
      3 * INTERVAL_MS * 1.1 + SLACK_MS * 2,
      'three more failed checks',
    );
    const lines = transitionLogs(running, 'web1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ backend: 'web', server: 'web1', from: 'UP', to: 'DOWN' });
    expect(typeof lines[0]!.reason).toBe('string');
    expect(lines[0]!.reason).not.toBe('ok');
    expect(typeof lines[0]!.checkDurationMs).toBe('number');
    expect(typeof lines[0]!.previousStateMs).toBe('number');

    const before = traffic(web2);
    for (let i = 0; i < 6; i += 1) {
      const reply = await request({ port: running.port(), ca: pki.ca.cert });
      expect(reply.status).toBe(200);
      expect(reply.headers['x-backend']).toBe('web2');
    }
    expect(traffic(web2) - before).toBe(6);

    const restarted = await listenOnPort(
      certs.web1,
      web1Port,
      healthHandler('web1', () => 200),
    );
    cleanups.push(restarted.close);
    const restartedAt = Date.now();
    const upDeadline = 2 * INTERVAL_MS * 1.1 + TIMEOUT_MS + SLACK_MS;
    await waitFor(() => server(running, 'web1').state === 'UP', upDeadline, 'web1 UP again');
    expect(Date.now() - restartedAt).toBeLessThan(upDeadline);
    expect(metric(await scrape(running), 'lb_server_up', { backend: 'web', server: 'web1' })).toBe(1);
    expect(transitionLogs(running, 'web1').map((l) => l.to)).toEqual(['DOWN', 'UP']);

    // It takes traffic again.
    const seen = new Set<string>();
    for (let i = 0; i < 6; i += 1) seen.add(String((await request({ port: running.port(), ca: pki.ca.cert })).headers['x-backend']));
    expect(seen.has('web1')).toBe(true);
  });
});

describe('a server whose certificate does not match its pin', () => {
  it('starts UP, goes DOWN at the first check with `tls: pin mismatch`, and never comes UP', async () => {
    const web1 = await backend('web1');
    const otherKey = pki.selfSigned('web1');
    const running = await startProxy(
      pki.front,
      [{ name: 'web1', address: web1.address, trust: certs.web1, pins: [spkiPin(otherKey.cert)] }],
      {
        backend: { check: { path: '/health', interval: '60s', timeout: '1s', rise: 2, fall: 2 } },
        top: { admin: { bind: '127.0.0.1:0' } },
      },
    );
    cleanups.push(() => running.close());
    const checker = running.lb.health.checker;
    await checker.stop(); // driven by runOnce only

    expect(server(running, 'web1').state).toBe('UP');
    await checker.runOnce('web/web1');
    expect(server(running, 'web1').state).toBe('DOWN');
    expect(server(running, 'web1').lastCheck?.reason).toBe('tls: pin mismatch');

    for (let i = 0; i < 5; i += 1) {
      await checker.runOnce('web/web1');
      expect(server(running, 'web1').state).toBe('DOWN');
    }
    const view = await apiServer(running, 'web', 'web1');
    expect(view.state).toBe('DOWN');
    expect(view.lastCheck).toMatchObject({ status: 'failed', code: null, reason: 'tls: pin mismatch' });
    const samples = await scrape(running);
    expect(metric(samples, 'lb_server_check_failures_total', { backend: 'web', server: 'web1' })).toBe(6);
    expect(metric(samples, 'lb_upstream_tls_errors_total', { backend: 'web', server: 'web1' })).toBe(6);
    // Fails closed: not one HTTP request reached the server.
    expect(web1.requests).toHaveLength(0);
    expect(transitionLogs(running, 'web1')).toHaveLength(1);
  });
});

describe('a flapping server (health alternates 200 / 500), rise 2 / fall 2', () => {
  const check = { path: '/health', interval: '60s', timeout: '1s', rise: 2, fall: 2 };
  // [status answered, state after, health text after]; the counter runs 0..3 (rise + fall - 1), UP at >= 2.
  const cases: Array<{ first: 200 | 500; steps: Array<[number, 'UP' | 'DOWN', string]> }> = [
    {
      first: 500,
      steps: [
        [500, 'DOWN', 'DOWN'], // 2 -> 0: below rise drops to 0
        [200, 'DOWN', 'DOWN 1/2 (going up)'],
        [500, 'DOWN', 'DOWN'],
        [200, 'DOWN', 'DOWN 1/2 (going up)'],
        [500, 'DOWN', 'DOWN'],
        [200, 'DOWN', 'DOWN 1/2 (going up)'],
      ],
    },
    {
      first: 200,
      steps: [
        [200, 'UP', 'UP'], // 2 -> 3
        [500, 'UP', 'UP 1/2 (going down)'],
        [200, 'UP', 'UP'],
        [500, 'UP', 'UP 1/2 (going down)'],
        [200, 'UP', 'UP'],
        [500, 'UP', 'UP 1/2 (going down)'],
      ],
    },
  ];
  for (const { first, steps } of cases) {
    it(`first answer ${first}: stays ${steps[0]![1]} while it flaps`, async () => {
      let next = first;
      const web1 = await backend(
        'web1',
        healthHandler('web1', () => {
          const status = next;
          next = next === 200 ? 500 : 200;
          return status;
        }),
      );
      const running = await proxy([web1], { backend: { check } });
      await running.lb.health.checker.stop(); // driven by runOnce only
      for (const [status, state, text] of steps) {
        await running.lb.health.checker.runOnce('web/web1');
        expect(server(running, 'web1').lastCheck?.code).toBe(status);
        expect(server(running, 'web1').state).toBe(state);
        expect(server(running, 'web1').healthDescription).toBe(text);
      }
      expect(transitionLogs(running, 'web1')).toHaveLength(first === 500 ? 1 : 0);

      // Two good checks in a row bring it UP, two bad ones take it DOWN.
      next = 200;
      const steady = { current: 200 };
      web1.setHandler(healthHandler('web1', () => steady.current));
      await running.lb.health.checker.runOnce('web/web1');
      await running.lb.health.checker.runOnce('web/web1');
      expect(server(running, 'web1').state).toBe('UP');
      steady.current = 500;
      await running.lb.health.checker.runOnce('web/web1');
      expect(server(running, 'web1').state).toBe('UP');
      await running.lb.health.checker.runOnce('web/web1');
      expect(server(running, 'web1').state).toBe('DOWN');
    });
  }
});

describe('passive checks', () => {
  it('observe layer7, errorLimit 3, mark-down: three 500s from live traffic take the server DOWN', async () => {
    const web1 = await backend('web1', (req, res) => {
      res.writeHead(req.url === '/health' ? 200 : 500, { 'content-type': 'text/plain' });
      res.end('x\n');
    });
    const running = await proxy([web1], {
      backend: {
        check: {
          path: '/health',
          interval: '60s',
          timeout: '1s',
          rise: 2,
          fall: 2,
          observe: 'layer7',
          errorLimit: 3,
          onError: 'mark-down',
        },
      },
    });
    for (let i = 1; i <= 3; i += 1) {
      expect(server(running, 'web1').state).toBe('UP');
      const reply = await request({ port: running.port(), ca: pki.ca.cert });
      expect(reply.status).toBe(500);
    }
    await waitFor(() => server(running, 'web1').state === 'DOWN', 2_000, 'passive mark-down');
    const lines = transitionLogs(running, 'web1');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ from: 'UP', to: 'DOWN', reason: 'passive: 3 consecutive errors' });
    expect(await apiServer(running, 'web', 'web1')).toMatchObject({ requests: 3, errors: 3 });
    expect(metric(await scrape(running), 'lb_server_up', { backend: 'web', server: 'web1' })).toBe(0);

    // No more traffic to it: the only server is DOWN.
    const served = traffic(web1);
    expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(503);
    expect(traffic(web1)).toBe(served);
  });

  it('observe layer7 counts only consecutive errors: a success in between resets the count', async () => {
    let status = 500;
    const web1 = await backend('web1', (req, res) => {
      res.writeHead(req.url === '/health' ? 200 : status, { 'content-type': 'text/plain' });
      res.end('x\n');
    });
    const running = await proxy([web1], {
      backend: { check: { path: '/health', interval: '60s', timeout: '1s', observe: 'layer7', errorLimit: 3, onError: 'mark-down' } },
    });
    for (const next of [500, 500, 200, 500, 500]) {
      status = next;
      expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(next);
    }
    expect(server(running, 'web1').state).toBe('UP');
    status = 500;
    await request({ port: running.port(), ca: pki.ca.cert });
    expect(server(running, 'web1').state).toBe('DOWN');
  });
});

describe('a server going DOWN', () => {
  it('hands its queued cookie holders to another server at once and closes its idle connections', async () => {
    let healthy = true;
    const held: Array<() => void> = [];
    const web1 = await backend('web1', (req, res) => {
      const answer = (status: number) => {
        res.writeHead(status, { 'content-type': 'text/plain', 'x-backend': 'web1' });
        res.end('web1\n');
      };
      if (req.url === '/health') answer(healthy ? 200 : 503);
      else if (req.url === '/slow') held.push(() => answer(200));
      else answer(200);
    });
    const web2 = await backend('web2');
    const running = await startProxy(
      pki.front,
      [
        { name: 'web1', address: web1.address, trust: certs.web1, extra: { maxconn: 1 } },
        { name: 'web2', address: web2.address, trust: certs.web2 },
      ],
      {
        backend: {
          balance: 'roundrobin',
          cookie: { name: 'WEBSERVERID' },
          check: { path: '/health', interval: '60s', timeout: '1s', rise: 2, fall: 2 },
        },
        top: { timeouts: { queue: '5s' } },
      },
    );
    cleanups.push(() => running.close());
    await running.lb.health.checker.stop(); // driven by runOnce only

    let cookie: string | undefined;
    for (let i = 0; i < 4 && !cookie; i += 1) {
      const reply = await request({ port: running.port(), ca: pki.ca.cert });
      if (reply.headers['x-backend'] === 'web1') cookie = reply.headers['set-cookie']?.[0]?.split(';')[0];
    }
    expect(cookie).toBeDefined();
    const countConnections = () => new Promise<number>((resolve) => web1.server.getConnections((_err, n) => resolve(n)));
    expect(await countConnections()).toBeGreaterThan(0); // the balancer keeps an idle keep-alive connection

    // One request holds web1's only slot; a second cookie holder waits in web1's own queue.
    const first = request({ port: running.port(), ca: pki.ca.cert, path: '/slow', headers: { cookie: cookie! } });
    await waitFor(() => held.length === 1, 5_000, 'first request at web1');
    const second = request({ port: running.port(), ca: pki.ca.cert, path: '/second', headers: { cookie: cookie! } });
    const web1Server = server(running, 'web1');
    await waitFor(() => web1Server.queue.size === 1, 5_000, 'second request queued on web1');

    healthy = false;
    const downAt = Date.now();
    await running.lb.health.checker.runOnce('web/web1');
    await running.lb.health.checker.runOnce('web/web1');
    expect(web1Server.state).toBe('DOWN');
    const moved = await second;
    expect(moved.status).toBe(200);
    expect(moved.headers['x-backend']).toBe('web2');
    expect(moved.headers['set-cookie']?.some((c) => c.startsWith('WEBSERVERID=') && !c.startsWith(`${cookie!};`))).toBe(true);
    expect(Date.now() - downAt).toBeLessThan(2_000); // not after timeouts.queue
    expect(web1Server.queue.size).toBe(0);

    // The request in flight finishes on web1; afterwards no connection to it stays open.
    held[0]!();
    const finished = await first;
    expect(finished.status).toBe(200);
    expect(finished.headers['x-backend']).toBe('web1');
    // Well under undici's own keep-alive timeout (about 4 s here): closed because the server went DOWN.
    await waitFor(async () => (await countConnections()) === 0, 1_000, 'idle connections to web1 closed');
  });
});

describe('all servers DOWN', () => {
  it('answers 503 at once (not after timeouts.queue) and resumes by itself when a server recovers', async () => {
    let healthy = false;
    const web1 = await backend(
      'web1',
      healthHandler('web1', () => (healthy ? 200 : 503)),
    );
    const web2 = await backend(
      'web2',
      healthHandler('web2', () => 503),
    );
    const running = await proxy([web1, web2], { backend: { check: FAST_CHECK }, top: { timeouts: { queue: '5s' } } });

    await waitFor(
      () => server(running, 'web1').state === 'DOWN' && server(running, 'web2').state === 'DOWN',
      2 * INTERVAL_MS + TIMEOUT_MS + SLACK_MS,
      'both DOWN',
    );
    const started = Date.now();
    const reply = await request({ port: running.port(), ca: pki.ca.cert });
    expect(reply.status).toBe(503);
    expect(reply.headers['content-type']).toMatch(/^text\/plain/);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(traffic(web1) + traffic(web2)).toBe(0);

    healthy = true;
    await waitFor(
      async () => (await request({ port: running.port(), ca: pki.ca.cert })).status === 200,
      2 * INTERVAL_MS * 1.1 + TIMEOUT_MS + SLACK_MS,
      'service back',
    );
    const back = await request({ port: running.port(), ca: pki.ca.cert });
    expect(back.headers['x-backend']).toBe('web1');
    expect((await admin(running, '/healthz')).status).toBe(200);
  });
});
