// `npm run screenshot`: makes docs/stats.png, the README's picture of /stats, from a
// realistic state: two backends under sticky traffic for about a minute and a half,
// web2 set to DRAIN (its cookie holders trickle away), web3 failing its checks until
// DOWN, api2 caught "going down". Also writes a phone shot and a dark one to the temp
// folder, to look at. Skipped unless STATS_SCREENSHOT is set: it is slow on purpose.
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';
import type { Issued } from '../../src/dev/pki.js';
import { admin, adminUrl } from '../helpers/admin.js';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { hasChromium, launchChromium } from '../helpers/browser.js';
import { request, waitFor } from '../helpers/client.js';
import { startLb, tempDir, writePair } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';

const OUTPUT = fileURLToPath(new URL('../../docs/stats.png', import.meta.url));
const TRAFFIC_MS = 90_000;
const TICK_MS = 100;

const pki = testPki();

interface DemoServer {
  readonly backend: TestBackend;
  readonly cert: Issued;
  /** From now on its health check fails, and so do half its requests. */
  failing: boolean;
}

/** A server answering in 30-180 ms (so some requests are in flight), `errorShare` of its requests with 503. */
async function demoServer(name: string, errorShare = 0): Promise<DemoServer> {
  const cert = pki.selfSigned(name);
  const health = { failing: false };
  const backend = await startBackend({
    name,
    tls: cert,
    handler: (req, res) => {
      const fail = req.url === '/health' ? health.failing : Math.random() < (health.failing ? 0.5 : errorShare);
      const delayMs = 30 + Math.random() * 150;
      setTimeout(
        () => res.writeHead(fail ? 503 : 200, { 'content-type': 'text/plain' }).end(fail ? 'unavailable\n' : `hello from ${name}\n`),
        delayMs,
      );
    },
  });
  return Object.assign(health, { backend, cert });
}

/**
 * Sticky clients: each keeps the cookie it was given, and now and then one leaves and a
 * new one arrives, so a drained server's cookie holders trickle away as in real life.
 */
function stickyTraffic(port: number, clients: number, perClientPerSecond: (elapsedMs: number) => number): () => void {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 12 });
  const cookies: Array<string | undefined> = new Array<string | undefined>(clients).fill(undefined);
  const startedAt = Date.now();
  const timer = setInterval(() => {
    const chance = (perClientPerSecond(Date.now() - startedAt) * TICK_MS) / 1000;
    cookies.forEach((cookie, i) => {
      if (Math.random() < 0.004) cookies[i] = undefined;
      if (Math.random() >= chance) return;
      request({ port, ca: pki.ca.cert, path: '/', agent, headers: cookie ? { cookie } : {} })
        .then((reply) => {
          const set = reply.headers['set-cookie']?.[0];
          if (set) cookies[i] = set.split(';')[0];
        })
        .catch(() => {});
    });
  }, TICK_MS);
  return () => {
    clearInterval(timer);
    agent.destroy();
  };
}

describe.skipIf(!process.env.STATS_SCREENSHOT || !hasChromium)('stats page screenshot', () => {
  it('writes docs/stats.png', { timeout: TRAFFIC_MS + 60_000 }, async () => {
    const servers = {
      web1: await demoServer('web1'),
      web2: await demoServer('web2'),
      web3: await demoServer('web3'),
      api1: await demoServer('api1', 0.02),
      api2: await demoServer('api2'),
    };
    const dir = tempDir();
    const serverEntry = (name: keyof typeof servers) => ({
      name,
      address: servers[name].backend.address,
      tls: { ca: writePair(dir, `ca-${name}`, servers[name].cert).cert, servername: name },
    });
    const tls = { certs: [writePair(dir, 'front', pki.front)] };
    const running = await startLb(
      {
        log: { level: 'silent', access: false },
        admin: { bind: '127.0.0.1:0' },
        frontends: [
          { name: 'https', bind: '127.0.0.1:0', tls, backend: 'web' },
          { name: 'http', bind: '127.0.0.1:0', redirect: 'https' },
          { name: 'api', bind: '127.0.0.1:0', tls, backend: 'api' },
        ],
        backends: [
          {
            name: 'web',
            balance: 'leastconn',
            cookie: { name: 'WEBSERVERID' },
            check: { path: '/health', interval: '1s', timeout: '500ms', rise: 2, fall: 3 },
            servers: [serverEntry('web1'), serverEntry('web2'), serverEntry('web3')],
          },
          {
            name: 'api',
            balance: 'roundrobin',
            check: { path: '/health', interval: '2s', timeout: '500ms', rise: 2, fall: 3 },
            servers: [serverEntry('api1'), serverEntry('api2')],
          },
        ],
      },
      dir,
    );
    const browser = await launchChromium();
    const stops: Array<() => void> = [];
    try {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await page.goto(`${adminUrl(running)}/stats`);

      // Web traffic swells and ebbs; the api is steadier.
      stops.push(stickyTraffic(running.port('https'), 60, (t) => 0.5 + 0.3 * Math.sin(t / 9_000)));
      stops.push(stickyTraffic(running.port('api'), 20, (t) => 0.6 + 0.1 * Math.sin(t / 5_000)));
      const at = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
      const began = Date.now();
      const until = (ms: number) => at(Math.max(0, began + ms - Date.now()));

      await until(30_000);
      await admin(running, '/api/backends/web/servers/web2/state', { method: 'PUT', body: { state: 'DRAIN' } });
      await until(45_000);
      servers.web3.failing = true;
      await until(TRAFFIC_MS);
      servers.api2.failing = true;
      await page.locator('tr[data-server="api2"] .note', { hasText: 'going down' }).waitFor({ timeout: 10_000 });
      await waitFor(async () => (await page.locator('tr[data-server="web3"] .badge').textContent()) === 'DOWN', 5_000, 'web3 DOWN');

      // `animations: 'disabled'` ends the highlight of a row that just changed.
      await page.screenshot({ path: OUTPUT, fullPage: true, animations: 'disabled' });
      const extra = { dark: join(tmpdir(), 'stats-dark.png'), phone: join(tmpdir(), 'stats-phone.png') };
      await page.emulateMedia({ colorScheme: 'dark' });
      await page.screenshot({ path: extra.dark, fullPage: true, animations: 'disabled' });
      await page.emulateMedia({ colorScheme: 'light' });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: extra.phone, fullPage: true, animations: 'disabled' });
      console.log(`wrote ${OUTPUT}; to look at: ${extra.dark}, ${extra.phone}`);
    } finally {
      for (const stop of stops) stop();
      await browser.close();
      await running.close();
      await Promise.all(Object.values(servers).map((s) => s.backend.close()));
    }
  });
});
