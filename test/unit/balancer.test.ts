import { describe, expect, it } from 'vitest';
import type { BalanceAlgorithm } from '../../src/config/types.js';
import { createPolicy } from '../../src/balancer/create-policy.js';
import type { BalancePolicy, BalanceTarget, PickContext } from '../../src/balancer/policy.js';

/** A server double: weight, in-flight count and availability are set by the test. */
class FakeServer implements BalanceTarget {
  /** Slow start's share of the weight (test/unit/slow-start.test.ts ramps real servers). */
  ramp = 1;

  constructor(
    readonly name: string,
    public weight = 1,
    public active = 0,
    public available = true,
  ) {}

  get effectiveWeight(): number {
    return this.weight * this.ramp;
  }

  isAvailable(): boolean {
    return this.available;
  }
}

interface ServerSpec {
  name: string;
  weight?: number;
  active?: number;
  available?: boolean;
}

function makeServers(specs: readonly ServerSpec[]): FakeServer[] {
  return specs.map((s) => new FakeServer(s.name, s.weight ?? 1, s.active ?? 0, s.available ?? true));
}

const CTX: PickContext = { clientAddress: '192.0.2.1' };

/** Names of `count` sequential picks (active never changes). */
function picks(policy: BalancePolicy<FakeServer>, count: number, ctx: PickContext = CTX): string[] {
  const out: string[] = [];
  for (let i = 0; i < count; i++) out.push(policy.pick(ctx)?.name ?? '-');
  return out;
}

function counts(names: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of names) out[name] = (out[name] ?? 0) + 1;
  return out;
}

interface OrderCase {
  name: string;
  servers: ServerSpec[];
  /** Names of servers put in `exclude`. */
  exclude?: string[];
  /** Expected picks, one letter per pick ('-' for undefined). */
  order: string;
}

function runOrderTable(algorithm: BalanceAlgorithm, table: readonly OrderCase[]): void {
  it.each(table)('$name', ({ servers: specs, exclude, order }) => {
    const servers = makeServers(specs);
    const policy = createPolicy(algorithm, servers);
    const ctx: PickContext = {
      clientAddress: CTX.clientAddress,
      exclude: exclude === undefined ? undefined : new Set(servers.filter((s) => exclude.includes(s.name))),
    };
    expect(picks(policy, order.length, ctx).join('')).toBe(order);
  });
}

describe('leastconn', () => {
  runOrderTable('leastconn', [
    { name: 'idle equal servers rotate', servers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }], order: 'abcabcabc' },
    {
      name: 'fewest in flight wins',
      servers: [
        { name: 'a', active: 2 },
        { name: 'b', active: 0 },
        { name: 'c', active: 1 },
      ],
      order: 'bbbb',
    },
    {
      name: 'ties among the least loaded rotate, others are skipped',
      servers: [
        { name: 'a', active: 0 },
        { name: 'b', active: 3 },
        { name: 'c', active: 0 },
      ],
      order: 'acacac',
    },
    {
      name: 'active is compared relative to weight',
      // a: 2/4 = 0.5, b: 1/1 = 1, c: 1/3 = 0.33
      servers: [
        { name: 'a', weight: 4, active: 2 },
        { name: 'b', weight: 1, active: 1 },
        { name: 'c', weight: 3, active: 1 },
      ],
      order: 'ccc',
    },
    {
      name: 'equal ratios tie, and ties share by weight (smooth round-robin)',
      servers: [
        { name: 'a', weight: 2, active: 2 },
        { name: 'b', weight: 1, active: 1 },
      ],
      order: 'abaaba',
    },
    {
      name: 'idle servers share by weight',
      servers: [{ name: 'a', weight: 5 }, { name: 'b' }, { name: 'c' }],
      order: 'aabacaaaabacaa',
    },
    {
      name: 'weight 0 is never picked, even idle',
      servers: [
        { name: 'a', weight: 0 },
        { name: 'b', active: 50 },
      ],
      order: 'bbb',
    },
    {
      name: 'unavailable is never picked',
      servers: [
        { name: 'a', available: false },
        { name: 'b', active: 9 },
        { name: 'c', active: 9 },
      ],
      order: 'bcbc',
    },
    { name: 'excluded is never picked', servers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }], exclude: ['b'], order: 'acac' },
    {
      name: 'all unavailable -> undefined',
      servers: [{ name: 'a', available: false }, { name: 'b', weight: 0 }, { name: 'c' }],
      exclude: ['c'],
      order: '---',
    },
    { name: 'no servers -> undefined', servers: [], order: '--' },
  ]);

  it('spreads 300 sequential picks of idle equal servers evenly and never twice in a row', () => {
    const policy = createPolicy('leastconn', makeServers([{ name: 'a' }, { name: 'b' }, { name: 'c' }]));
    const names = picks(policy, 300);
    expect(counts(names)).toEqual({ a: 100, b: 100, c: 100 });
    for (let i = 1; i < names.length; i++) expect(names[i]).not.toBe(names[i - 1]);
  });

  it('balances by weight when picks hold their connection', () => {
    const servers = makeServers([
      { name: 'a', weight: 3 },
      { name: 'b', weight: 1 },
    ]);
    const policy = createPolicy('leastconn', servers);
    for (let i = 0; i < 400; i++) policy.pick(CTX)!.active++;
    expect(servers.map((s) => s.active)).toEqual([300, 100]);
  });

  it('reads weights and counts at pick time', () => {
    const servers = makeServers([{ name: 'a' }, { name: 'b' }]);
    const policy = createPolicy('leastconn', servers);
    servers[0]!.active = 5;
    expect(picks(policy, 2).join('')).toBe('bb');
    servers[1]!.weight = 0;
    policy.weightsChanged();
    expect(picks(policy, 2).join('')).toBe('aa');
  });
});

describe('roundrobin', () => {
  runOrderTable('roundrobin', [
    // nginx's documented sequence for weights { 5, 1, 1 }.
    { name: 'smooth weighted {5,1,1}', servers: [{ name: 'a', weight: 5 }, { name: 'b' }, { name: 'c' }], order: 'aabacaaaabacaa' },
    { name: 'equal weights', servers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }], order: 'abcabc' },
    { name: 'weights {2,1}', servers: [{ name: 'a', weight: 2 }, { name: 'b' }], order: 'abaaba' },
    { name: 'in-flight counts do not matter', servers: [{ name: 'a', active: 100 }, { name: 'b' }], order: 'abab' },
    { name: 'weight 0 is skipped', servers: [{ name: 'a' }, { name: 'b', weight: 0 }, { name: 'c' }], order: 'acac' },
    {
      name: 'unavailable is skipped',
      servers: [{ name: 'a', weight: 5, available: false }, { name: 'b' }, { name: 'c' }],
      order: 'bcbc',
    },
    { name: 'excluded is skipped', servers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }], exclude: ['a'], order: 'bcbc' },
    {
      name: 'all unavailable -> undefined',
      servers: [
        { name: 'a', available: false },
        { name: 'b', weight: 0 },
      ],
      order: '--',
    },
  ]);

  it('follows a weight change after weightsChanged()', () => {
    const servers = makeServers([{ name: 'a', weight: 5 }, { name: 'b' }, { name: 'c' }]);
    const policy = createPolicy('roundrobin', servers);
    expect(picks(policy, 3).join('')).toBe('aab');
    servers[0]!.weight = 1;
    servers[2]!.weight = 5;
    policy.weightsChanged();
    expect(picks(policy, 7).join('')).toBe('ccacbcc'); // weights a=1, b=1, c=5
  });

  it('shares picks in proportion to weight', () => {
    const policy = createPolicy('roundrobin', makeServers([{ name: 'a', weight: 3 }, { name: 'b', weight: 2 }, { name: 'c' }]));
    expect(counts(picks(policy, 600))).toEqual({ a: 300, b: 200, c: 100 });
  });
});

describe('source', () => {
  const addresses = Array.from({ length: 10_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);

  function assign(policy: BalancePolicy<FakeServer>, ctx: Omit<PickContext, 'clientAddress'> = {}): string[] {
    return addresses.map((clientAddress) => policy.pick({ ...ctx, clientAddress })?.name ?? '-');
  }

  it('sends an address to the same server every time, whatever the load', () => {
    const servers = makeServers([{ name: 'web1' }, { name: 'web2' }, { name: 'web3' }]);
    const policy = createPolicy('source', servers);
    const first = policy.pick({ clientAddress: '198.51.100.7' });
    servers.forEach((s) => (s.active = 100));
    first!.active = 1000;
    for (let i = 0; i < 5; i++) expect(policy.pick({ clientAddress: '198.51.100.7' })).toBe(first);
  });

  it('hashes an IPv4-mapped IPv6 address like the IPv4 address', () => {
    const policy = createPolicy('source', makeServers([{ name: 'web1' }, { name: 'web2' }, { name: 'web3' }, { name: 'web4' }]));
    for (const address of addresses.slice(0, 50)) {
      expect(policy.pick({ clientAddress: `::ffff:${address}` })).toBe(policy.pick({ clientAddress: address }));
    }
  });

  it('spreads 10,000 addresses over 4 servers within 25 % of even', () => {
    const policy = createPolicy('source', makeServers(['web1', 'web2', 'web3', 'web4'].map((name) => ({ name }))));
    const spread = counts(assign(policy));
    expect(Object.keys(spread).sort()).toEqual(['web1', 'web2', 'web3', 'web4']);
    for (const n of Object.values(spread)) {
      expect(n).toBeGreaterThanOrEqual(2500 * 0.75);
      expect(n).toBeLessThanOrEqual(2500 * 1.25);
    }
  });

  it('shares addresses in proportion to weight', () => {
    const policy = createPolicy('source', makeServers([{ name: 'web1', weight: 2 }, { name: 'web2' }, { name: 'web3' }]));
    const spread = counts(assign(policy));
    expect(spread.web1! / addresses.length).toBeGreaterThan(0.4);
    expect(spread.web1! / addresses.length).toBeLessThan(0.6);
  });

  it('moves only the removed server’s clients when the list is rebuilt without it', () => {
    const four = makeServers(['web1', 'web2', 'web3', 'web4'].map((name) => ({ name })));
    const before = assign(createPolicy('source', four));
    const after = assign(
      createPolicy(
        'source',
        four.filter((s) => s.name !== 'web3'),
      ),
    );
    let moved = 0;
    before.forEach((server, i) => {
      if (server === 'web3') {
        moved++;
        expect(after[i]).not.toBe('web3');
      } else {
        expect(after[i]).toBe(server);
      }
    });
    expect(moved / addresses.length).toBeGreaterThan(0.15);
    expect(moved / addresses.length).toBeLessThan(0.35);
  });

  it('moves only an unavailable server’s clients, and brings them back', () => {
    const servers = makeServers(['web1', 'web2', 'web3', 'web4'].map((name) => ({ name })));
    const policy = createPolicy('source', servers);
    const before = assign(policy);
    servers[1]!.available = false;
    const during = assign(policy);
    before.forEach((server, i) => {
      if (server === 'web2') expect(during[i]).not.toBe('web2');
      else expect(during[i]).toBe(server);
    });
    // The displaced clients spread over the others rather than piling on one.
    const displaced = counts(during.filter((_, i) => before[i] === 'web2'));
    expect(Object.keys(displaced).length).toBe(3);
    servers[1]!.available = true;
    expect(assign(policy)).toEqual(before);
  });

  it('treats excluded servers like unavailable ones', () => {
    const servers = makeServers(['web1', 'web2', 'web3'].map((name) => ({ name })));
    const policy = createPolicy('source', servers);
    const before = assign(policy);
    const during = assign(policy, { exclude: new Set([servers[0]!]) });
    before.forEach((server, i) => {
      if (server === 'web1') expect(during[i]).not.toBe('web1');
      else expect(during[i]).toBe(server);
    });
  });

  it('rebuilds the ring on weightsChanged(): weight 0 takes no clients', () => {
    const servers = makeServers(['web1', 'web2', 'web3'].map((name) => ({ name })));
    const policy = createPolicy('source', servers);
    servers[2]!.weight = 0;
    policy.weightsChanged();
    expect(assign(policy)).not.toContain('web3');
    servers[2]!.weight = 1;
    policy.weightsChanged();
    expect(assign(policy)).toContain('web3');
  });

  it.each([
    {
      name: 'all unavailable',
      servers: [
        { name: 'a', available: false },
        { name: 'b', available: false },
      ],
    },
    {
      name: 'all weight 0',
      servers: [
        { name: 'a', weight: 0 },
        { name: 'b', weight: 0 },
      ],
    },
    { name: 'no servers', servers: [] },
  ])('returns undefined when $name', ({ servers }) => {
    const policy = createPolicy('source', makeServers(servers));
    expect(policy.pick(CTX)).toBeUndefined();
  });

  it('returns undefined when every server is excluded', () => {
    const servers = makeServers([{ name: 'a' }, { name: 'b' }]);
    expect(createPolicy('source', servers).pick({ clientAddress: '192.0.2.9', exclude: new Set(servers) })).toBeUndefined();
  });
});
