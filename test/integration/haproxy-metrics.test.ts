// `metrics.haproxyCompat: true`: HAProxy's exporter names and labels on /metrics,
// checked against the traffic sent and the servers' states; absent when off; and
// safe to sum over workers with prom-client's AggregatorRegistry.
import { AggregatorRegistry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { metric, parseMetrics, scrape } from '../helpers/admin.js';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { request } from '../helpers/client.js';
import { startProxy, type ProxyOptions, type ProxyServer, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';
import { closedAddress } from '../helpers/ports.js';

const pki = testPki();
const certs = { web1: pki.selfSigned('web1'), web2: pki.selfSigned('web2') };
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function backend(name: 'web1' | 'web2'): Promise<TestBackend> {
  const b = await startBackend({ name, tls: certs[name] });
  cleanups.push(b.close);
  return b;
}

function served(b: TestBackend): ProxyServer {
  return { name: b.name, address: b.address, trust: certs[b.name as 'web1' | 'web2'] };
}

/** A balancer with an admin listener and haproxyCompat on unless `compat` is false. */
async function proxy(servers: readonly ProxyServer[], options: ProxyOptions & { compat?: boolean } = {}): Promise<RunningLb> {
  const running = await startProxy(pki.front, servers, {
    ...options,
    top: { admin: { bind: '127.0.0.1:0' }, metrics: { haproxyCompat: options.compat ?? true }, ...options.top },
  });
  cleanups.push(() => running.close());
  return running;
}

/** haproxy_server_status as { state: value } for one server. */
async function serverStatus(running: RunningLb, server: string): Promise<Record<string, number>> {
  const samples = await scrape(running);
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (s.name === 'haproxy_server_status' && s.labels.proxy === 'web' && s.labels.server === server) out[s.labels.state!] = s.value;
  }
  return out;
}

describe('metrics.haproxyCompat', () => {
  it('is off by default: no haproxy_ series', async () => {
    const web1 = await backend('web1');
    const running = await proxy([served(web1)], { compat: false });
    expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(200);
    const samples = await scrape(running);
    expect(samples.some((s) => s.name.startsWith('lb_'))).toBe(true);
    expect(samples.filter((s) => s.name.startsWith('haproxy_'))).toEqual([]);
  });

  it('counts responses by class per server, backend and frontend with HAProxy label names, next to the lb_ names', async () => {
    const web1 = await backend('web1');
    const web2 = await backend('web2');
    const running = await proxy([served(web1), served(web2)], { backend: { balance: 'roundrobin' } });
    const sent: Record<string, number> = { web1: 0, web2: 0 };
    for (let i = 0; i < 6; i += 1) {
      const reply = await request({ port: running.port(), ca: pki.ca.cert });
      expect(reply.status).toBe(200);
      sent[String(reply.headers['x-backend'])]! += 1;
    }
    web1.setHandler((_req, res) => {
      res.writeHead(404);
      res.end('no');
    });
    web2.setHandler((_req, res) => {
      res.writeHead(404);
      res.end('no');
    });
    expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(404);

    await waitFor(
      async () => metric(await scrape(running), 'haproxy_frontend_http_requests_total', { proxy: 'https' }) === 7,
      5_000,
      'requests counted',
    );
    const samples = await scrape(running);
    for (const server of ['web1', 'web2']) {
      expect(metric(samples, 'haproxy_server_http_responses_total', { proxy: 'web', server, code: '2xx' })).toBe(sent[server]);
      // Every class has its series from the start, as in HAProxy.
      expect(metric(samples, 'haproxy_server_http_responses_total', { proxy: 'web', server, code: '5xx' })).toBe(0);
      expect(metric(samples, 'haproxy_server_http_responses_total', { proxy: 'web', server, code: 'other' })).toBe(0);
      expect(metric(samples, 'haproxy_server_current_sessions', { proxy: 'web', server })).toBe(0);
      expect(metric(samples, 'haproxy_server_current_queue', { proxy: 'web', server })).toBe(0);
      expect(metric(samples, 'haproxy_server_weight', { proxy: 'web', server })).toBe(1);
    }
    expect(metric(samples, 'haproxy_server_http_responses_total', { proxy: 'web', code: '4xx' })).toBe(1);
    expect(metric(samples, 'haproxy_server_sessions_total', { proxy: 'web' })).toBe(7);
    expect(metric(samples, 'haproxy_backend_http_responses_total', { proxy: 'web', code: '2xx' })).toBe(6);
    expect(metric(samples, 'haproxy_backend_http_responses_total', { proxy: 'web', code: '4xx' })).toBe(1);
    expect(metric(samples, 'haproxy_backend_http_requests_total', { proxy: 'web' })).toBe(7);
    expect(metric(samples, 'haproxy_backend_active_servers', { proxy: 'web' })).toBe(2);
    expect(metric(samples, 'haproxy_backend_status', { proxy: 'web', state: 'UP' })).toBe(1);
    expect(metric(samples, 'haproxy_frontend_http_responses_total', { proxy: 'https', code: '2xx' })).toBe(6);
    expect(metric(samples, 'haproxy_frontend_status', { proxy: 'https', state: 'UP' })).toBe(1);
    expect(metric(samples, 'haproxy_frontend_connections_total', { proxy: 'https' })).toBe(7);
    expect(metric(samples, 'haproxy_process_requests_total')).toBe(7);
    // Response body bytes: six "backend=webN path=/\n" and one "no".
    expect(metric(samples, 'haproxy_backend_bytes_out_total', { proxy: 'web' })).toBe(6 * 'backend=web1 path=/\n'.length + 2);
    // The lb_ names are still there, with the same facts.
    expect(metric(samples, 'lb_requests_total', { code: '200' })).toBe(6);
    // No Doorman label leaks into an HAProxy series.
    const haproxy = samples.filter((s) => s.name.startsWith('haproxy_'));
    expect(haproxy.some((s) => 'backend' in s.labels || 'frontend' in s.labels)).toBe(false);
  });

  it('haproxy_server_status flips from UP to DOWN on failed checks, to DRAIN and MAINT by the operator', async () => {
    const web1 = await backend('web1');
    const web2 = await backend('web2');
    const running = await proxy([served(web1), served(web2)], {
      backend: { check: { path: '/health', interval: '60s', timeout: '1s', rise: 1, fall: 1 } },
    });
    const checker = running.lb.health.checker;
    await checker.stop(); // driven by runOnce only
    expect(await serverStatus(running, 'web1')).toEqual({ UP: 1, DOWN: 0, MAINT: 0, DRAIN: 0, NOLB: 0 });

    web1.setHandler((_req, res) => {
      res.writeHead(503);
      res.end();
    });
    await checker.runOnce('web/web1');
    expect(await serverStatus(running, 'web1')).toEqual({ UP: 0, DOWN: 1, MAINT: 0, DRAIN: 0, NOLB: 0 });
    let samples = await scrape(running);
    expect(metric(samples, 'haproxy_server_check_failures_total', { proxy: 'web', server: 'web1' })).toBe(1);
    expect(metric(samples, 'haproxy_server_check_up_down_total', { proxy: 'web', server: 'web1' })).toBe(1);
    expect(metric(samples, 'haproxy_server_check_code', { proxy: 'web', server: 'web1' })).toBe(503);
    expect(metric(samples, 'haproxy_backend_active_servers', { proxy: 'web' })).toBe(1);
    expect(metric(samples, 'haproxy_backend_agg_server_status', { proxy: 'web', state: 'DOWN' })).toBe(1);
    expect(metric(samples, 'haproxy_backend_agg_server_status', { proxy: 'web', state: 'UP' })).toBe(1);

    await running.lb.control.setState('web', 'web2', 'DRAIN');
    expect((await serverStatus(running, 'web2')).DRAIN).toBe(1);
    samples = await scrape(running);
    expect(metric(samples, 'haproxy_server_weight', { proxy: 'web', server: 'web2' })).toBe(0);
    expect(metric(samples, 'haproxy_server_uweight', { proxy: 'web', server: 'web2' })).toBe(1);
    // A draining server still serves its cookie holders: the backend is UP with no active server.
    expect(metric(samples, 'haproxy_backend_status', { proxy: 'web', state: 'UP' })).toBe(1);
    expect(metric(samples, 'haproxy_backend_active_servers', { proxy: 'web' })).toBe(0);

    await running.lb.control.setState('web', 'web2', 'MAINT');
    expect(await serverStatus(running, 'web2')).toEqual({ UP: 0, DOWN: 0, MAINT: 1, DRAIN: 0, NOLB: 0 });
    expect(metric(await scrape(running), 'haproxy_backend_status', { proxy: 'web', state: 'DOWN' })).toBe(1);
  });

  it('counts retries, redispatches and connection errors against the refusing server', async () => {
    const web1 = await backend('web1');
    const dead = await closedAddress();
    const running = await proxy([served(web1), { name: 'web2', address: dead, trust: certs.web2 }], {
      backend: { balance: 'roundrobin', retries: 3, redispatch: true },
    });
    for (let i = 0; i < 6; i += 1) expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(200);
    await waitFor(
      async () => metric(await scrape(running), 'haproxy_backend_http_requests_total', { proxy: 'web' }) === 6,
      5_000,
      'requests counted',
    );
    const samples = await scrape(running);
    const redispatches = metric(samples, 'haproxy_backend_redispatch_warnings_total', { proxy: 'web' })!;
    expect(redispatches).toBeGreaterThanOrEqual(1);
    expect(redispatches).toBe(metric(samples, 'lb_redispatches_total', { backend: 'web' }));
    expect(metric(samples, 'haproxy_backend_retry_warnings_total', { proxy: 'web' })).toBe(
      metric(samples, 'lb_retries_total', { backend: 'web' }),
    );
    expect(metric(samples, 'haproxy_server_connection_errors_total', { proxy: 'web', server: 'web2' })).toBeGreaterThanOrEqual(
      redispatches,
    );
    expect(metric(samples, 'haproxy_server_connection_errors_total', { proxy: 'web', server: 'web1' })).toBe(0);
    expect(metric(samples, 'haproxy_backend_connection_errors_total', { proxy: 'web' })).toBe(
      metric(samples, 'haproxy_server_connection_errors_total', { proxy: 'web', server: 'web2' }),
    );
    expect(metric(samples, 'haproxy_server_http_responses_total', { proxy: 'web', server: 'web1', code: '2xx' })).toBe(6);
  });

  it('sums over workers: counters and sessions add up, a server stays UP once', async () => {
    const web1 = await backend('web1');
    const workers = [await proxy([served(web1)]), await proxy([served(web1)])];
    for (const worker of workers) expect((await request({ port: worker.port(), ca: pki.ca.cert })).status).toBe(200);
    for (const worker of workers) {
      await waitFor(async () => metric(await scrape(worker), 'haproxy_server_sessions_total') === 1, 5_000, 'request counted');
    }
    const perWorker = await Promise.all(workers.map((w) => w.lb.metrics.registry.getMetricsAsJSON()));
    const summed = parseMetrics(await AggregatorRegistry.aggregate(perWorker).metrics());
    expect(metric(summed, 'haproxy_server_http_responses_total', { proxy: 'web', server: 'web1', code: '2xx' })).toBe(2);
    expect(metric(summed, 'haproxy_server_status', { proxy: 'web', server: 'web1', state: 'UP' })).toBe(1);
    expect(metric(summed, 'haproxy_server_weight', { proxy: 'web', server: 'web1' })).toBe(1);
    expect(metric(summed, 'haproxy_backend_status', { proxy: 'web', state: 'UP' })).toBe(1);
    expect(metric(summed, 'haproxy_frontend_status', { proxy: 'https', state: 'UP' })).toBe(1);
  });
});
