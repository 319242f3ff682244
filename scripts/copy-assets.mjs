// `npm run build`'s last step: tsc emits only JavaScript, so the stats page's HTML and
// CSS are copied next to the compiled stats.js, where src/admin/ui/stats-page.ts reads them.
import { copyFileSync, mkdirSync } from 'node:fs';

const from = new URL('../src/admin/ui/', import.meta.url);
const to = new URL('../dist/admin/ui/', import.meta.url);
mkdirSync(to, { recursive: true });
for (const name of ['stats.html', 'stats.css']) copyFileSync(new URL(name, from), new URL(name, to));
