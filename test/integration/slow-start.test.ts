// Slow start end to end: a server taken to MAINT and back to READY through the admin
// API takes clearly less than its share of the requests sent right after, though some;
// /api/state shows its effective weight below its weight; a reload to `slowStart: 0`
// ends the ramp. Counts over a fixed number of requests, no timing: the 30 s ramp
// leaves a loaded machine ample time for them.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { admin, apiServer } from '../helpers/admin.js';
import { startBackend } from '../helpers/backend.js';
import { request } from '../helpers/client.js';
import { startProxy } from '../helpers/lb.js';
import { parseConfig } from '../../src/config/load.js';
import { testPki } from '../helpers/pki.js';

const pki = testPki();
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const REQUESTS = 100;

describe.each(['leastconn', 'roundrobin'])('slow start with %s', (balance) => {
  it('sends a server back from MAINT clearly less than half of the requests at first, and a reload to 0s ends the ramp', async () => {
    const web = await Promise.all(['web1', 'web2'].map((name) => startBackend({ name })));
    for (const b of web) cleanups.push(() => b.close());
    const running = await startProxy(
      pki.front,
      web.map((b) => ({ name: b.name, address: b.address })),
      { plain: true, backend: { balance, slowStart: '30s' }, top: { admin: { bind: '127.0.0.1:0' } } },
    );
    cleanups.push(() => running.close());
    const path = '/api/backends/web/servers/web2/state';

    expect((await admin(running, path, { method: 'PUT', body: { state: 'MAINT' } })).status).toBe(200);
    const ready = await admin(running, path, { method: 'PUT', body: { state: 'READY' } });
    expect(ready.status).toBe(200);
    const shown = ready.json as { weight: number; effectiveWeight: number };
    expect(shown.weight).toBe(1);
    expect(shown.effectiveWeight).toBeGreaterThan(0);
    expect(shown.effectiveWeight).toBeLessThan(0.5);

    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => Promise.resolve(agent.destroy()));
    const served = { web1: 0, web2: 0 };
    for (let i = 0; i < REQUESTS; i++) {
      const reply = await request({ port: running.port('http'), agent });
      expect(reply.status).toBe(200);
      served[reply.headers['x-backend'] as 'web1' | 'web2']++;
    }
    expect(served.web1 + served.web2).toBe(REQUESTS);
    // Used at once, a little (5 % of its weight at first), and far from its half.
    expect(served.web2).toBeGreaterThanOrEqual(1);
    expect(served.web2).toBeLessThan(REQUESTS / 3);
    expect((await apiServer(running, 'web', 'web2')).effectiveWeight).toBeLessThan(1);

    // A reload applies a new slowStart to the ramp under way: 0s ends it.
    const file = join(running.dir, 'lb.yaml');
    const doc = parse(readFileSync(file, 'utf8')) as { backends: Array<Record<string, unknown>> };
    doc.backends[0]!.slowStart = '0s';
    const text = stringify(doc);
    expect(await running.lb.reload(parseConfig(text, file))).toEqual([]);
    expect((await apiServer(running, 'web', 'web2')).effectiveWeight).toBe(1);
  });
});
