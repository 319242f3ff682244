// Headless Chromium for the browser tests: Debian's `chromium` package (installed by
// .ci/run), driven by playwright-core, which downloads no browser of its own.
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** False on a machine without Debian's chromium: the browser tests then skip, and say so. */
export const hasChromium = existsSync(CHROMIUM_PATH);

/** Launches headless Chromium; --no-sandbox because the tests run as root. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: ['--no-sandbox'] });
}

/**
 * Collects the page's uncaught errors and console errors, for a test to assert there are
 * none. Chromium's own "Failed to load resource" lines are left out: an expected 401 logs one.
 */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(err.message));
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) errors.push(message.text());
  });
  return errors;
}
