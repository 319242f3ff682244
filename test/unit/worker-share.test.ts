// `workers: N` splits per-server and global maxconn so the workers together hold to
// the configured limits exactly.
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { workerShare } from '../../src/cluster/messages.js';
import { parseConfig } from '../../src/config/load.js';

function config(maxconn: number, serverMaxconn: number) {
  const text = stringify({
    maxconn,
    admin: null,
    frontends: [{ name: 'http', bind: '127.0.0.1:0', backend: 'web' }],
    backends: [{ name: 'web', servers: [{ name: 'web1', address: '127.0.0.1:9', maxconn: serverMaxconn }] }],
  });
  return parseConfig(text, '/tmp/lb.yaml');
}

describe('workerShare', () => {
  it.each([
    // [limit, workers, shares by slot]
    [10, 2, [5, 5]],
    [5, 2, [3, 2]],
    [7, 3, [3, 2, 2]],
    [3, 4, [1, 1, 1, 1]], // below one per worker: each still gets 1, never 0 ("no limit")
    [0, 3, [0, 0, 0]], // no limit stays no limit
  ])('splits %i over %i workers as %j', (limit, workers, shares) => {
    const base = config(Math.max(limit, 1), limit);
    const got = shares.map((_, slot) => workerShare(base, workers, slot).backends[0]!.servers[0]!.maxconn);
    expect(got).toEqual(shares);
    if (limit >= workers) expect(got.reduce((a, b) => a + b, 0)).toBe(limit);
  });

  it('splits the global maxconn the same way and leaves the rest of the config alone', () => {
    const base = config(20_000, 5);
    const share = workerShare(base, 3, 0);
    expect(share.maxconn).toBe(6667);
    expect(workerShare(base, 3, 2).maxconn).toBe(6666);
    expect(share.frontends).toBe(base.frontends);
    expect(base.backends[0]!.servers[0]!.maxconn).toBe(5);
  });
});
