// Request targets that cannot be forwarded as they came: `OPTIONS *` is Doorman's own
// 400, never a server's fault, and an absolute-form target reaches the server as its path.
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend } from '../helpers/backend.js';
import { rawExchange } from '../helpers/client.js';
import { startProxy } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';

const pki = testPki();
const cert = pki.selfSigned('web1');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(options: Parameters<typeof startProxy>[2] = {}) {
  const backend = await startBackend({ name: 'web1', tls: cert });
  cleanups.push(() => backend.close());
  const running = await startProxy(pki.front, [{ name: 'web1', address: backend.address, trust: cert }], options);
  cleanups.push(() => running.close());
  return { backend, running };
}

describe('request targets', () => {
  it('answers OPTIONS * with 400 without retrying or blaming the server', async () => {
    const { running, backend } = await setup({ backend: { check: { interval: '60s', observe: 'layer7', errorLimit: 1 } } });
    for (let i = 0; i < 3; i++) {
      const out = await rawExchange(running.port(), 'OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', pki.ca.cert);
      expect(out).toMatch(/^HTTP\/1\.1 400 /);
    }
    const server = running.lb.backends.get('web')!.servers[0]!;
    expect(server.healthy).toBe(true);
    expect(server.errors).toBe(0);
    expect(backend.requests).toHaveLength(0);
    expect(await running.lb.metrics.registry.getSingleMetricAsString('lb_retries_total')).toContain('lb_retries_total{backend="web"} 0');
  });

  it('forwards an absolute-form target as its origin-form path', async () => {
    const { running, backend } = await setup();
    const out = await rawExchange(
      running.port(),
      'GET http://shop.example/a/b?c=1 HTTP/1.1\r\nHost: shop.example\r\nConnection: close\r\n\r\n',
      pki.ca.cert,
    );
    expect(out).toMatch(/^HTTP\/1\.1 200 /);
    expect(backend.requests[0]!.url).toBe('/a/b?c=1');
  });
});
