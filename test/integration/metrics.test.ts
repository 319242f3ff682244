// /metrics checked against the traffic each test sent: request counts and durations,
// open client connections, upstream TLS failures, retries and redispatches, and
// prom-client's process metrics.
import https from 'node:https';
import { afterEach, describe, expect, it } from 'vitest';
import { spkiPin } from '../../src/tls/pin.js';
import { metric, scrape } from '../helpers/admin.js';
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

async function proxy(servers: readonly ProxyServer[], options: ProxyOptions = {}): Promise<RunningLb> {
  const running = await startProxy(pki.front, servers, { ...options, top: { admin: { bind: '127.0.0.1:0' }, ...options.top } });
  cleanups.push(() => running.close());
  return running;
}

function served(b: TestBackend): ProxyServer {
  return { name: b.name, address: b.address, trust: certs[b.name as 'web1' | 'web2'] };
}

describe('request metrics', () => {
  it('lb_requests_total sums to the requests sent, by server and code; the duration histogram counts them', async () => {
    const web1 = await backend('web1');
    const web2 = await backend('web2');
    const running = await proxy([served(web1), served(web2)]);
    const N = 7;
    const byServer: Record<string, number> = {};
    for (let i = 0; i < N; i += 1) {
      const reply = await request({ port: running.port(), ca: pki.ca.cert, path: `/p/${i}` });
      expect(reply.status).toBe(200);
      const name = String(reply.headers['x-backend']);
      byServer[name] = (byServer[name] ?? 0) + 1;
    }
    // A 404 from a server is counted under its own code.
    web1.setHandler((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    web2.setHandler((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(404);

    // requestDone runs when the response has finished: poll until the last one is in.
    await waitFor(async () => metric(await scrape(running), 'lb_requests_total') === N + 1, 5_000, 'all requests counted');
    const samples = await scrape(running);
    expect(metric(samples, 'lb_requests_total', { frontend: 'https', backend: 'web' })).toBe(N + 1);
    expect(metric(samples, 'lb_requests_total', { code: '200' })).toBe(N);
    expect(metric(samples, 'lb_requests_total', { code: '404' })).toBe(1);
    for (const [name, count] of Object.entries(byServer)) {
      expect(metric(samples, 'lb_requests_total', { server: name, code: '200' })).toBe(count);
    }
    expect(metric(samples, 'lb_request_duration_seconds_count', { backend: 'web' })).toBe(N + 1);
    expect(metric(samples, 'lb_request_duration_seconds_bucket', { backend: 'web', le: '+Inf' })).toBe(N + 1);
    expect(metric(samples, 'lb_request_duration_seconds_sum', { backend: 'web' })).toBeGreaterThan(0);
    // Labels stay low-cardinality: no path anywhere.
    expect(samples.some((s) => Object.values(s.labels).some((v) => v.startsWith('/p/')))).toBe(false);
  });

  it('lb_frontend_connections follows an open keep-alive connection', async () => {
    const web1 = await backend('web1');
    const running = await proxy([served(web1)]);
    expect(metric(await scrape(running), 'lb_frontend_connections', { frontend: 'https' })).toBe(0);

    const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await request({ port: running.port(), ca: pki.ca.cert, agent })).status).toBe(200);
      expect((await request({ port: running.port(), ca: pki.ca.cert, agent })).status).toBe(200);
      expect(metric(await scrape(running), 'lb_frontend_connections', { frontend: 'https' })).toBe(1);
    } finally {
      agent.destroy();
    }
    await waitFor(
      async () => metric(await scrape(running), 'lb_frontend_connections', { frontend: 'https' }) === 0,
      5_000,
      'connection count back to 0',
    );
  });
});

describe('upstream failures', () => {
  it('lb_upstream_tls_errors_total counts a pin failure', async () => {
    const web1 = await backend('web1');
    const wrong = pki.selfSigned('web1');
    const running = await proxy([{ ...served(web1), pins: [spkiPin(wrong.cert)] }], { backend: { retries: 0 } });
    expect(metric(await scrape(running), 'lb_upstream_tls_errors_total', { backend: 'web', server: 'web1' }) ?? 0).toBe(0);

    expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(502);
    await waitFor(async () => metric(await scrape(running), 'lb_requests_total', { code: '502' }) === 1, 5_000, '502 counted');
    const samples = await scrape(running);
    expect(metric(samples, 'lb_upstream_tls_errors_total', { backend: 'web', server: 'web1' })).toBe(1);
    expect(web1.requests).toHaveLength(0);

    expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(502);
    await waitFor(
      async () => metric(await scrape(running), 'lb_upstream_tls_errors_total', { backend: 'web', server: 'web1' }) === 2,
      5_000,
      'second TLS error counted',
    );
  });

  it('lb_retries_total and lb_redispatches_total count requests moved off a server that refuses connections', async () => {
    const web1 = await backend('web1');
    const dead = await closedAddress();
    const running = await proxy([served(web1), { name: 'web2', address: dead, trust: certs.web2 }], {
      backend: { balance: 'roundrobin', retries: 3, redispatch: true },
    });
    const N = 6;
    for (let i = 0; i < N; i += 1) {
      const reply = await request({ port: running.port(), ca: pki.ca.cert });
      expect(reply.status).toBe(200);
      expect(reply.headers['x-backend']).toBe('web1');
    }
    await waitFor(async () => metric(await scrape(running), 'lb_requests_total') === N, 5_000, 'requests counted');
    const samples = await scrape(running);
    const retries = metric(samples, 'lb_retries_total', { backend: 'web' }) ?? 0;
    const redispatches = metric(samples, 'lb_redispatches_total', { backend: 'web' }) ?? 0;
    // Round robin sends some first attempts to the dead server; each of those is retried on web1.
    expect(redispatches).toBeGreaterThanOrEqual(1);
    expect(retries).toBeGreaterThanOrEqual(redispatches);
    expect(redispatches).toBeLessThanOrEqual(N);
    // Every request was answered by web1, and counted there.
    expect(metric(samples, 'lb_requests_total', { server: 'web1', code: '200' })).toBe(N);
    expect(metric(samples, 'lb_requests_total', { server: 'web2' }) ?? 0).toBe(0);
    expect(metric(samples, 'lb_upstream_tls_errors_total', { server: 'web2' }) ?? 0).toBe(0);
  });

  it('with retries 0 a refused connection is a 502 and nothing is retried', async () => {
    const dead = await closedAddress();
    const running = await proxy([{ name: 'web1', address: dead, trust: certs.web1 }], { backend: { retries: 0 } });
    expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(502);
    await waitFor(async () => metric(await scrape(running), 'lb_requests_total', { code: '502' }) === 1, 5_000, '502 counted');
    const samples = await scrape(running);
    expect(metric(samples, 'lb_retries_total', { backend: 'web' }) ?? 0).toBe(0);
    expect(metric(samples, 'lb_redispatches_total', { backend: 'web' }) ?? 0).toBe(0);
  });
});

describe('server gauges and process metrics', () => {
  it('exposes the SPEC metrics for every server and prom-client process metrics', async () => {
    const web1 = await backend('web1');
    const running = await proxy([served(web1)]);
    const samples = await scrape(running);
    const labels = { backend: 'web', server: 'web1' };
    expect(metric(samples, 'lb_server_up', labels)).toBe(1);
    expect(metric(samples, 'lb_server_active_connections', labels)).toBe(0);
    expect(metric(samples, 'lb_server_queue', labels)).toBe(0);
    expect(metric(samples, 'lb_frontend_connections', { frontend: 'https' })).toBe(0);
    expect(samples.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
    expect(samples.some((s) => s.name === 'process_start_time_seconds')).toBe(true);
    expect(samples.some((s) => s.name.startsWith('nodejs_'))).toBe(true);
  });

  it('lb_server_active_connections shows a request in flight', async () => {
    const web1 = await backend('web1');
    let release: (() => void) | undefined;
    web1.setHandler((_req, res) => {
      release = () => {
        res.writeHead(200);
        res.end('late\n');
      };
    });
    const running = await proxy([served(web1)]);
    const pending = request({ port: running.port(), ca: pki.ca.cert });
    await waitFor(() => release !== undefined, 5_000, 'request at the server');
    expect(metric(await scrape(running), 'lb_server_active_connections', { backend: 'web', server: 'web1' })).toBe(1);
    release!();
    expect((await pending).status).toBe(200);
    await waitFor(
      async () => metric(await scrape(running), 'lb_server_active_connections', { backend: 'web', server: 'web1' }) === 0,
      5_000,
      'request finished',
    );
  });
});
