// Per-client limits called directly, on a clock the test moves: connections counted and
// released, allow and deny lists, the token bucket and its Retry-After, one log summary
// per client per interval, reloads, and the table bound under floods of addresses.
import { describe, expect, it } from 'vitest';
import { canonicalAddress } from '../../src/client-address.js';
import type { LimitsConfig } from '../../src/config/types.js';
import { ClientLimits, LOG_INTERVAL_MS, type LimitReason, type RejectionSummary } from '../../src/limits/client-limits.js';

const NONE: LimitsConfig = { connections: null, requestRate: null, allow: [], deny: [], tableSize: 100_000 };

function limiter(config: Partial<LimitsConfig>) {
  const clock = { now: 0 };
  const rejections: { reason: LimitReason; client: string; summary: RejectionSummary | null }[] = [];
  const limits = new ClientLimits(
    { ...NONE, ...config },
    (reason, client, summary) => rejections.push({ reason, client, summary }),
    () => clock.now,
  );
  return { limits, clock, rejections };
}

/** The i-th address of a flood: IPv4 for even i, an IPv6 address in its own /64 for odd i. */
function floodAddress(i: number): string {
  if (i % 2 === 0) return `10.${(i >> 16) & 0xff}.${(i >> 8) & 0xff}.${i & 0xff}`;
  return `2001:db8:${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}::1`;
}

describe('connections per client', () => {
  it('refuses past the limit and counts again once one closes', () => {
    const { limits, rejections } = limiter({ connections: 2 });
    const first = limits.admitConnection('192.0.2.1');
    const second = limits.admitConnection('192.0.2.1');
    expect(first).not.toBeNull();
    expect(second).not.toBeNull();
    expect(limits.admitConnection('192.0.2.1')).toBeNull();
    expect(limits.admitConnection('192.0.2.2')).not.toBeNull();
    first!();
    first!(); // a second call changes nothing
    expect(limits.admitConnection('192.0.2.1')).not.toBeNull();
    expect(limits.admitConnection('192.0.2.1')).toBeNull();
    expect(rejections.map((r) => [r.reason, r.client])).toEqual([
      ['connections', '192.0.2.1'],
      ['connections', '192.0.2.1'],
    ]);
  });

  it('counts an IPv6 /64 as one client, and an IPv4-mapped address as its IPv4 one', () => {
    const { limits } = limiter({ connections: 1 });
    expect(limits.admitConnection('2001:db8:1:2::1')).not.toBeNull();
    expect(limits.admitConnection('2001:db8:1:2:ffff::9')).toBeNull();
    expect(limits.admitConnection('2001:db8:1:3::1')).not.toBeNull();
    expect(limits.admitConnection('192.0.2.7')).not.toBeNull();
    expect(limits.admitConnection(canonicalAddress('::ffff:192.0.2.7')!)).toBeNull();
  });

  it('forgets a client whose last connection closed when no rate applies', () => {
    const { limits } = limiter({ connections: 5 });
    const release = limits.admitConnection('192.0.2.1')!;
    expect(limits.size).toEqual({ active: 1, resting: 0 });
    release();
    expect(limits.size).toEqual({ active: 0, resting: 0 });
  });
});

describe('allow and deny lists', () => {
  it('refuses denied clients and, with an allow list, everyone not on it', () => {
    const { limits, rejections } = limiter({ deny: ['192.0.2.0/24', '2001:db8:bad::/48'], allow: [] });
    expect(limits.admitConnection('192.0.2.200')).toBeNull();
    expect(limits.admitConnection('2001:db8:bad:1::1')).toBeNull();
    expect(limits.admitConnection('198.51.100.1')).not.toBeNull();
    const allowing = limiter({ allow: ['10.0.0.0/8', '2001:db8::/32'], deny: ['10.9.0.0/16'] });
    expect(allowing.limits.admitConnection('10.1.2.3')).not.toBeNull();
    expect(allowing.limits.admitConnection('2001:db8::1')).not.toBeNull();
    expect(allowing.limits.admitConnection('10.9.0.1')).toBeNull(); // deny wins
    expect(allowing.limits.admitConnection('192.0.2.1')).toBeNull();
    expect(rejections.every((r) => r.reason === 'deny' && r.summary === null)).toBe(true);
    // A refused client leaves nothing in the table.
    expect(limits.size).toEqual({ active: 1, resting: 0 });
  });
});

describe('request rate', () => {
  it('lets a burst through, then answers the seconds until the next token', () => {
    const { limits, clock } = limiter({ requestRate: { rate: 2, perMs: 1000, burst: 3 } });
    expect([1, 2, 3].map(() => limits.takeRequest('192.0.2.1'))).toEqual([0, 0, 0]);
    expect(limits.takeRequest('192.0.2.1')).toBe(1);
    expect(limits.takeRequest('192.0.2.2')).toBe(0); // another client has its own bucket
    clock.now += 499;
    expect(limits.takeRequest('192.0.2.1')).toBe(1);
    clock.now += 1;
    expect(limits.takeRequest('192.0.2.1')).toBe(0); // half a second gave one token at 2/s
    clock.now += 10_000;
    expect([1, 2, 3, 4].map(() => limits.takeRequest('192.0.2.1'))).toEqual([0, 0, 0, 1]); // refilled to the burst, no more
  });

  it('rounds Retry-After up to whole seconds', () => {
    const { limits, clock } = limiter({ requestRate: { rate: 1, perMs: 60_000, burst: 1 } });
    expect(limits.takeRequest('192.0.2.1')).toBe(0);
    expect(limits.takeRequest('192.0.2.1')).toBe(60);
    clock.now += 59_001;
    expect(limits.takeRequest('192.0.2.1')).toBe(1);
  });

  it("summarises a client's rejections in one log line per interval", () => {
    const { limits, clock, rejections } = limiter({ requestRate: { rate: 1, perMs: 1000, burst: 1 } });
    limits.takeRequest('192.0.2.1');
    for (let i = 0; i < 50; i++) limits.takeRequest('192.0.2.1');
    expect(rejections).toHaveLength(50);
    expect(rejections.filter((r) => r.summary !== null).map((r) => r.summary)).toEqual([{ rejected: 1 }]);
    clock.now += LOG_INTERVAL_MS;
    // Tokens came back meanwhile: spend them, then be refused again.
    while (limits.takeRequest('192.0.2.1') === 0);
    expect(rejections.filter((r) => r.summary !== null).map((r) => r.summary)).toEqual([{ rejected: 1 }, { rejected: 50 }]);
  });

  it("keeps a bucket across a client's reconnects, and drops it once refilled", () => {
    const { limits, clock } = limiter({ requestRate: { rate: 1, perMs: 1000, burst: 2 } });
    const release = limits.admitConnection('192.0.2.1')!;
    limits.takeRequest('192.0.2.1');
    limits.takeRequest('192.0.2.1');
    release();
    expect(limits.size).toEqual({ active: 0, resting: 1 });
    const again = limits.admitConnection('192.0.2.1')!;
    expect(limits.takeRequest('192.0.2.1')).toBe(1); // reconnecting gave no fresh burst
    again();
    clock.now += 2_000; // a full refill: the entry says nothing a new one would not
    limits.admitConnection('192.0.2.99');
    expect(limits.size).toEqual({ active: 1, resting: 0 });
  });
});

describe('reload', () => {
  it('keeps open connections counted under new limits, and clamps buckets to a lower burst', () => {
    const { limits } = limiter({ connections: 3, requestRate: { rate: 1, perMs: 1000, burst: 10 } });
    limits.admitConnection('192.0.2.1');
    limits.admitConnection('192.0.2.1');
    limits.configure({ ...NONE, connections: 2, requestRate: { rate: 1, perMs: 1000, burst: 2 } });
    expect(limits.admitConnection('192.0.2.1')).toBeNull();
    expect([1, 2, 3].map(() => limits.takeRequest('192.0.2.1'))).toEqual([0, 0, 1]);
    limits.configure({ ...NONE, connections: null, requestRate: null, deny: ['192.0.2.0/24'] });
    expect(limits.takeRequest('192.0.2.1')).toBe(0);
    expect(limits.admitConnection('192.0.2.1')).toBeNull();
  });
});

describe('the table bound', () => {
  it('holds at most tableSize resting clients through a flood of a million addresses', () => {
    const tableSize = 10_000;
    const { limits, clock } = limiter({ connections: 10, requestRate: { rate: 10, perMs: 1000, burst: 20 }, tableSize });
    let most = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const address = floodAddress(i);
      // One in ten also opens and closes a connection; every one sends a request.
      if (i % 10 === 0) limits.admitConnection(address)!();
      limits.takeRequest(address);
      if (i % 1000 === 0) {
        clock.now += 1; // the flood takes a while: a millisecond per thousand clients
        most = Math.max(most, limits.size.resting);
      }
    }
    expect(most).toBeLessThanOrEqual(tableSize);
    expect(limits.size.resting).toBeLessThanOrEqual(tableSize);
    expect(limits.size.active).toBe(0);
  }, 60_000);

  it('never evicts a client with a connection open: its count stays exact', () => {
    const { limits } = limiter({ connections: 1, requestRate: { rate: 1, perMs: 1000, burst: 5 }, tableSize: 100 });
    const pinned = Array.from({ length: 500 }, (_, i) => `172.16.${i >> 8}.${i & 0xff}`);
    expect(pinned.map((address) => limits.admitConnection(address)).every((release) => release !== null)).toBe(true);
    for (let i = 0; i < 50_000; i++) {
      const address = floodAddress(i);
      limits.admitConnection(address)?.();
      limits.takeRequest(address);
    }
    expect(limits.size.active).toBe(500);
    expect(limits.size.resting).toBeLessThanOrEqual(100);
    for (const address of pinned) expect(limits.admitConnection(address)).toBeNull();
  });

  it("lets a flood of fresh addresses evict its own entries, not a throttled client's", () => {
    const { limits } = limiter({ requestRate: { rate: 1, perMs: 60_000, burst: 10 }, tableSize: 1000 });
    const release = limits.admitConnection('198.51.100.9')!;
    while (limits.takeRequest('198.51.100.9') === 0);
    release(); // resting now, with an empty bucket
    for (let i = 0; i < 100_000; i++) limits.takeRequest(floodAddress(i));
    expect(limits.size.resting).toBeLessThanOrEqual(1000);
    expect(limits.takeRequest('198.51.100.9')).toBeGreaterThan(0);
  });
});
