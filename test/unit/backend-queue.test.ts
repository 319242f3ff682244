// Backend slot accounting and queues, without network: pools are created but never used.
import { afterAll, describe, expect, it } from 'vitest';
import { Backend } from '../../src/backend/backend.js';
import { UpstreamServer } from '../../src/backend/server.js';
import type { BackendConfig, ServerConfig, TimeoutsConfig } from '../../src/config/types.js';

const timeouts: TimeoutsConfig = { clientMs: 1000, serverMs: 1000, connectMs: 1000, queueMs: 5000, shutdownMs: 1000, graceMs: 0 };

function serverConfig(name: string): ServerConfig {
  return { name, address: { host: '127.0.0.1', port: 9 }, tls: null, maxconn: 1, weight: 1, cookie: name };
}

const config: BackendConfig = {
  name: 'web',
  balance: 'roundrobin',
  cookie: null,
  retries: 3,
  redispatch: true,
  forwardFor: { except: null, trusted: [] },
  check: null,
  servers: [serverConfig('s1'), serverConfig('s2')],
};

const servers = config.servers.map((s, i) => new UpstreamServer('web', s, i, timeouts));
afterAll(async () => {
  for (const s of servers) await s.destroy();
});

describe('backend queue', () => {
  it('never hands a redispatched request the server it failed on', async () => {
    const backend = new Backend(config, servers, timeouts);
    const [s1, s2] = servers as [UpstreamServer, UpstreamServer];
    const a = backend.place({ clientAddress: '1' });
    const b = backend.place({ clientAddress: '2' });
    expect([a.kind, b.kind]).toEqual(['server', 'server']);

    // A request that failed on s1 waits; a plain one waits behind it.
    const retry = backend.place({ clientAddress: '3', exclude: new Set([s1]) });
    const plain = backend.place({ clientAddress: '4' });
    if (retry.kind !== 'wait' || plain.kind !== 'wait') throw new Error('expected both to wait');
    const got: string[] = [];
    void retry.pending.promise.then((s) => got.push(`retry:${s.name}`));
    void plain.pending.promise.then((s) => got.push(`plain:${s.name}`));

    backend.release(s1);
    await Promise.resolve();
    backend.release(s2);
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual(['plain:s1', 'retry:s2']);
    expect(backend.queued).toBe(0);
    expect([s1.active, s2.active]).toEqual([1, 1]);
  });
});
