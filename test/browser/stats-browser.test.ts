// The /stats page in a real browser: headless Chromium against a running Doorman with
// two TLS servers. The page must show what /api/state says within a refresh, and its
// buttons and token form must work with the mouse and the keyboard.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { admin, adminUrl, apiState, type StateServer } from '../helpers/admin.js';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { hasChromium, launchChromium, pageErrors } from '../helpers/browser.js';
import { request, waitFor } from '../helpers/client.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';

const CHECK_INTERVAL_MS = 500;
const REFRESH_MS = 500;
/** Room for a loaded CI machine on top of what the page promises. */
const SLACK_MS = 2_000;
/** How long a wait for a state may take on a loaded 2-core machine (the full suite) before it fails. */
const LOADED_MS = 15_000;

const pki = testPki();
const certs = { web1: pki.selfSigned('web1'), web2: pki.selfSigned('web2') };
const cleanups: Array<() => Promise<void>> = [];
let browser: Browser;

if (!hasChromium) console.log('skipped: no chromium at /usr/bin/chromium (.ci/run installs it)');

interface Setup {
  running: RunningLb;
  web1: TestBackend;
  web2: TestBackend;
  page: Page;
  errors: string[];
}

/** Doorman with web1 and web2 checked every CHECK_INTERVAL_MS (fall 1 unless told), and a page on /stats. */
async function setup(
  options: {
    token?: string;
    fall?: number;
    context?: Parameters<Browser['newContext']>[0];
    open?: boolean;
    frontend?: Record<string, unknown>;
    backend?: Record<string, unknown>;
  } = {},
): Promise<Setup> {
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
    {
      backend: {
        check: { path: '/health', interval: CHECK_INTERVAL_MS, timeout: 400, rise: 1, fall: options.fall ?? 1 },
        ...options.backend,
      },
      top: { admin: { bind: '127.0.0.1:0', ...(options.token ? { token: options.token } : {}) } },
      ...(options.frontend ? { frontend: options.frontend } : {}),
    },
  );
  cleanups.push(() => running.close());
  const context: BrowserContext = await browser.newContext(options.context);
  cleanups.push(() => context.close());
  const page = await context.newPage();
  const errors = pageErrors(page);
  if (options.open !== false) await page.goto(`${adminUrl(running)}/stats?refresh=${REFRESH_MS / 1000}`);
  return { running, web1, web2, page, errors };
}

const row = (page: Page, server: string) => page.locator(`tr[data-server="${server}"]`);

/** The part of an /api/state answer the page timing is read from. */
interface PageState {
  now: string;
  backends: Array<{ servers: StateServer[] }>;
}

function web2Of(state: unknown): StateServer {
  const found = (state as PageState).backends[0]?.servers.find((s) => s.name === 'web2');
  if (!found) throw new Error('no web2 in /api/state');
  return found;
}

/** Polls /api/state until `server` is in `state`, or fails after `timeoutMs`. */
function untilApiState(running: RunningLb, server: string, state: string, token?: string, timeoutMs = 5_000): Promise<void> {
  const inState = async () => (await apiState(running, token)).backends[0]!.servers.find((s) => s.name === server)?.state === state;
  return waitFor(inState, timeoutMs, `${server} ${state} in /api/state`);
}

describe.skipIf(!hasChromium)('/stats in headless Chromium', () => {
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    while (cleanups.length) await cleanups.pop()!();
  });

  it('shows both servers UP, then a stopped server DOWN within a check interval and a refresh, and announces it', async () => {
    const { page, web2, errors } = await setup();
    for (const server of ['web1', 'web2']) {
      await row(page, server).locator('.badge', { hasText: 'UP' }).waitFor({ timeout: LOADED_MS });
    }
    await page.locator('#summary .count.UP', { hasText: '2 UP' }).waitFor({ timeout: LOADED_MS });
    await page.locator('tr[data-frontend="https"]').waitFor({ timeout: LOADED_MS });

    // The page's first /api/state answer that has web2 DOWN: it says when Doorman saw the
    // change and when it answered, on Doorman's clock.
    const downAnswer = page.waitForResponse(
      async (response) => new URL(response.url()).pathname === '/api/state' && web2Of(await response.json()).state === 'DOWN',
      { timeout: LOADED_MS },
    );
    await web2.close();
    const stoppedAt = Date.now();
    const answer = (await (await downAnswer).json()) as PageState;
    await row(page, 'web2').locator('.badge', { hasText: 'DOWN' }).waitFor({ timeout: LOADED_MS });
    // The check after the stop fails (fall 1: DOWN at once); the page's next refresh asks for
    // it. Timed by Doorman where each happens, so a busy test process polling late does not count.
    const changedAt = Date.parse(web2Of(answer).lastChange);
    expect(changedAt - stoppedAt).toBeLessThan(CHECK_INTERVAL_MS * 1.1 + SLACK_MS);
    expect(Date.parse(answer.now) - changedAt).toBeLessThan(REFRESH_MS + SLACK_MS);
    expect(await row(page, 'web2').getAttribute('class')).toContain('state-DOWN');
    // Refused, or reset when a check was in flight as the server stopped (likelier on a busy machine).
    expect(await row(page, 'web2').locator('td.check').textContent()).toMatch(/connect|refused|ECONNRESET/i);
    expect(await row(page, 'web1').locator('.badge').textContent()).toBe('UP');
    expect(await page.locator('#announcer').textContent()).toContain('web/web2 is DOWN');
    expect(await page.title()).toBe('(1 DOWN) Doorman stats');
    expect(errors).toEqual([]);
  });

  it('shows HAProxy\'s "going down N/3" while a server of fall 3 fails its checks, still UP', async () => {
    const { page, web2, errors } = await setup({ fall: 3 });
    await row(page, 'web2').locator('.badge', { hasText: 'UP' }).waitFor({ timeout: 5_000 });
    web2.setHandler((_req, res) => res.writeHead(503).end());
    await row(page, 'web2')
      .locator('.note', { hasText: /going down [12]\/3/ })
      .waitFor({ timeout: CHECK_INTERVAL_MS * 1.1 + REFRESH_MS + SLACK_MS });
    expect(await row(page, 'web2').getAttribute('class')).toContain('going-down');
    expect(await row(page, 'web2').locator('.badge').textContent()).toBe('UP');
    expect(errors).toEqual([]);
  });

  it('sets DRAIN with a click and MAINT with the keyboard, through the admin API', async () => {
    const { page, running, errors } = await setup();
    await row(page, 'web1').locator('.badge', { hasText: 'UP' }).waitFor({ timeout: 5_000 });

    await row(page, 'web1').getByRole('button', { name: 'DRAIN' }).click();
    await untilApiState(running, 'web1', 'DRAIN');
    await row(page, 'web1')
      .locator('.badge', { hasText: 'DRAIN' })
      .waitFor({ timeout: REFRESH_MS + SLACK_MS });
    expect(await row(page, 'web1').getByRole('button', { name: 'DRAIN' }).getAttribute('aria-pressed')).toBe('true');

    // Keyboard only: Tab onto MAINT, Enter. The focus stays on the button across refreshes.
    const maint = row(page, 'web2').getByRole('button', { name: 'MAINT' });
    await row(page, 'web2').getByRole('button', { name: 'DRAIN' }).focus();
    await page.keyboard.press('Tab');
    expect(await maint.evaluate((button) => button === document.activeElement)).toBe(true);
    await page.keyboard.press('Enter');
    await untilApiState(running, 'web2', 'MAINT');
    await row(page, 'web2')
      .locator('.badge', { hasText: 'MAINT' })
      .waitFor({ timeout: REFRESH_MS + SLACK_MS });
    await page.waitForFunction(() => document.querySelector('#announcer')?.textContent?.includes('web/web2 is MAINT'), null, {
      timeout: REFRESH_MS + SLACK_MS,
    });
    expect(await maint.evaluate((button) => button === document.activeElement)).toBe(true);
    expect(errors).toEqual([]);
  });

  it('shows the effective weight of a server in slow start, then the weight it ramps to', async () => {
    const { page, running, errors } = await setup({ backend: { slowStart: '60s' } });
    const weight = row(page, 'web2').locator('td[data-label="Weight"]');
    await weight.filter({ hasText: /^1$/ }).waitFor({ timeout: LOADED_MS });
    for (const state of ['MAINT', 'READY']) {
      expect((await admin(running, '/api/backends/web/servers/web2/state', { method: 'PUT', body: { state } })).status).toBe(200);
    }
    await weight.filter({ hasText: /^0\.\d\d → 1$/ }).waitFor({ timeout: REFRESH_MS + SLACK_MS });
    expect(await weight.getAttribute('title')).toMatch(/^slow start: \d+ % of weight 1$/);
    expect(await row(page, 'web1').locator('td[data-label="Weight"]').textContent()).toBe('1');
    expect(errors).toEqual([]);
  });

  it('asks for the admin token in a form, refuses a wrong one, and keeps the right one for the session', async () => {
    const { page, running, errors } = await setup({ token: 'open-sesame' });
    const form = page.locator('#token-form');
    await form.waitFor({ state: 'visible', timeout: 5_000 });
    // The field has the focus: type and press Enter, nothing else.
    await page.keyboard.type('wrong');
    await page.keyboard.press('Enter');
    await page.locator('#token-message', { hasText: 'refused' }).waitFor({ timeout: 5_000 });

    await page.getByLabel('Admin token').fill('open-sesame');
    await page.keyboard.press('Enter');
    await row(page, 'web1').locator('.badge', { hasText: 'UP' }).waitFor({ timeout: 5_000 });
    expect(await form.isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('doorman-token'))).toBe('open-sesame');

    await row(page, 'web2').getByRole('button', { name: 'DRAIN' }).click();
    await untilApiState(running, 'web2', 'DRAIN', 'open-sesame');
    // A reload keeps the token (sessionStorage), so no form this time.
    await page.reload();
    await row(page, 'web2').locator('.badge', { hasText: 'DRAIN' }).waitFor({ timeout: 5_000 });
    expect(await form.isHidden()).toBe(true);
    expect(errors).toEqual([]);
  });

  it('stacks its tables on a phone without sideways scrolling, and follows a dark colour scheme', async () => {
    const { page, running, errors } = await setup({ context: { viewport: { width: 390, height: 844 }, colorScheme: 'dark' }, open: false });
    await page.goto(`${adminUrl(running)}/stats?refresh=${REFRESH_MS / 1000}`);
    await row(page, 'web1').locator('.badge', { hasText: 'UP' }).waitFor({ timeout: 5_000 });
    const layout = await page.evaluate(() => ({
      overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
      cellDisplay: getComputedStyle(document.querySelector('tr[data-server="web1"] td.num')!).display,
      background: getComputedStyle(document.body).backgroundColor,
    }));
    expect(layout.overflow).toBe(0);
    expect(layout.cellDisplay).toBe('block');
    const [r, g, b] = layout.background.match(/\d+/g)!.map(Number);
    expect(r! + g! + b!).toBeLessThan(120);
    // Touch-sized buttons.
    const box = await row(page, 'web1').getByRole('button', { name: 'DRAIN' }).boundingBox();
    expect(box!.height).toBeGreaterThanOrEqual(40);
    expect(errors).toEqual([]);
  });

  it("lists a frontend's routes with their hit counts, and where the rest goes", async () => {
    const { page, running, errors } = await setup({
      frontend: { routes: [{ name: 'robots', match: { path: '/robots.txt' }, respond: { status: 200, body: 'ok' } }] },
    });
    const cell = page.locator('tr[data-frontend="https"]');
    await expect.poll(() => cell.textContent(), { timeout: 10_000 }).toContain('robots → answers 200 0 hits');
    expect(await cell.textContent()).toContain('else → web');
    await request({ port: running.port(), ca: pki.ca.cert, path: '/robots.txt' });
    await expect.poll(() => cell.textContent(), { timeout: 10_000 }).toContain('robots → answers 200 1 hits');
    expect(errors).toEqual([]);
  });

  it('lists the certificates the frontends serve with their expiry (GET /api/certs)', async () => {
    const { page, errors } = await setup();
    const rows = page.locator('#certificate-rows tr');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(1);
    const text = await rows.first().textContent();
    expect(text).toContain('localhost');
    expect(text).toContain('Doorman Test CA');
    expect(text).toMatch(/\d{4}-\d\d-\d\d \(36\d days\)/);
    expect(text).toContain('by hand (file)');
    expect(errors).toEqual([]);
  });
});
