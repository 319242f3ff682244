// The /stats page: one self-contained HTML document (no CDN, works offline) that
// refreshes itself from /api/state. Its parts are real files: stats.html, stats.css and
// stats.ts (compiled by src/admin/ui/tsconfig.json), which `npm run build` puts in
// dist/admin/ui/. They are read once, here, and the style and script inlined, so the page
// needs no second request (its icon is a data: URL for the same reason) and the
// Content-Security-Policy allows exactly them by hash.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Where the built files are: next to this module in dist/; from the source (the tests run
 * src/ through vitest), in the dist/ that `npm run build` made, as stats.js only exists there.
 */
const DIR = import.meta.url.endsWith('.ts') ? new URL('../../../dist/admin/ui/', import.meta.url) : new URL('./', import.meta.url);

function read(name: string): string {
  const url = new URL(name, DIR);
  try {
    return readFileSync(url, 'utf8');
  } catch (err) {
    throw new Error(`the stats page's ${url.pathname} cannot be read (run "npm run build"): ${(err as Error).message}`, { cause: err });
  }
}

/** `html` with `tag` replaced by an inline `element` holding `text`; the tags are stats.html's, so a missing one is a build mistake. */
function inline(html: string, tag: RegExp, element: 'style' | 'script', text: string): string {
  if (!tag.test(html)) throw new Error(`stats.html has no ${tag.source} to inline`);
  // Text that closes its element would end the script or style mid-way.
  if (text.toLowerCase().includes(`</${element}`)) throw new Error(`the stats page's inline ${element} contains </${element}`);
  // A function, so `$&` and friends in the text stay as they are.
  return html.replace(tag, () => `<${element}>${text}</${element}>`);
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

const STYLE = read('stats.css');
const SCRIPT = read('stats.js');

/** The whole page. */
export const STATS_PAGE = inline(
  // The link written either way an HTML formatter may leave it (`<link ...>` or `<link ... />`).
  inline(read('stats.html'), /<link rel="stylesheet" href="stats\.css"\s*\/?>/, 'style', STYLE),
  /<script src="stats\.js"><\/script>/,
  'script',
  SCRIPT,
);

/**
 * The page's Content-Security-Policy: its own inline script and style (by hash), calls to
 * this listener only, and no framing (the page's buttons change servers' states).
 */
export const STATS_PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  'img-src data:',
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
