// Chromium and the demo: a real browser negotiates HTTP/2 by ALPN on the https frontend
// and gets the page through the exchange (cookie set, a server named).
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { startDemo, type Demo } from '../../src/dev/demo.js';
import { createLogger } from '../../src/log.js';
import { hasChromium, launchChromium } from '../helpers/browser.js';
import { tempDir } from '../helpers/lb.js';
import { join } from 'node:path';

if (!hasChromium) console.log('skipped: no chromium at /usr/bin/chromium (.ci/run installs it)');

describe.skipIf(!hasChromium)('the demo in Chromium', () => {
  let demo: Demo | undefined;
  afterAll(async () => demo?.shutdown());

  it('negotiates h2 and shows a demo server, with the persistence cookie set', async () => {
    const root = tempDir();
    const quiet = new Writable({ write: (_c, _e, done) => done() });
    demo = await startDemo({
      certDir: join(root, 'certs'),
      varDir: join(root, 'var'),
      ports: 0,
      log: createLogger({ level: 'warn' }, quiet),
    });
    const browser = await launchChromium();
    try {
      // The demo CA is per run and not in Chromium's store: trust is checked by the other tests.
      const context = await browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      const response = await page.goto(`https://localhost:${demo.lb.port('https')}/`);
      expect(response?.status()).toBe(200);
      expect(
        await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol),
      ).toBe('h2');
      expect(await page.textContent('body')).toMatch(/Hello from web[12]/);
      expect((await context.cookies()).map((c) => c.name)).toContain('WEBSERVERID');
    } finally {
      await browser.close();
    }
  });
});
