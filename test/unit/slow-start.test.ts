// Slow start: the ramp of one server (a fake monotonic clock, no sleeping), how every
// policy shares traffic along it, cookie holders during it, and a worker's copy of it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createPolicy } from '../../src/balancer/create-policy.js';
import { hashAddress, rampTicket } from '../../src/balancer/source-hash.js';
import { Backend } from '../../src/backend/backend.js';
import { UpstreamServer } from '../../src/backend/server.js';
import { SLOW_START_MIN_FRACTION, slowStartFraction } from '../../src/backend/slow-start.js';
import type { BackendConfig, BalanceAlgorithm, ServerConfig, TimeoutsConfig } from '../../src/config/types.js';
import type { Upstream } from '../../src/upstream/upstream.js';

const SLOW_START_MS = 10_000;
const timeouts: TimeoutsConfig = { clientMs: 1000, serverMs: 1000, connectMs: 1000, queueMs: 1000, shutdownMs: 1000, graceMs: 0 };

/** Never used: these tests only balance. */
const idleUpstream: Upstream = {
  dispatch: () => {
    throw new Error('no request expected');
  },
  recycle: () => {},
  close: () => Promise.resolve(),
  destroy: () => Promise.resolve(),
};

function serverConfig(name: string, patch: Partial<ServerConfig> = {}): ServerConfig {
  return {
    name,
    address: { host: '127.0.0.1', port: 9 },
    tls: null,
    maxconn: 0,
    weight: 1,
    cookie: name,
    protocol: 'http1',
    slowStartMs: SLOW_START_MS,
    ...patch,
  };
}

/** A clock the test moves by hand. */
function fakeClock(start = 50_000): { now: () => number; advance: (ms: number) => void; set: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms), set: (ms) => (t = ms) };
}

function makeServer(name: string, clock: () => number, patch: Partial<ServerConfig> = {}): UpstreamServer {
  return new UpstreamServer('web', serverConfig(name, patch), 0, timeouts, () => idleUpstream, clock);
}

/** The elapsed times (ms into a 10 s ramp) the distribution tests look at. */
const POINTS = [0, 1_000, 2_500, 5_000, 7_500, 9_999, 10_000];

describe('slowStartFraction', () => {
  it('grows linearly from its floor to 1 over the duration', () => {
    expect(POINTS.map((ms) => slowStartFraction(ms, SLOW_START_MS))).toEqual([0.05, 0.1, 0.25, 0.5, 0.75, 0.9999, 1]);
    expect(slowStartFraction(-5, SLOW_START_MS)).toBe(SLOW_START_MIN_FRACTION);
    expect(slowStartFraction(Number.NaN, SLOW_START_MS)).toBe(SLOW_START_MIN_FRACTION);
    expect(slowStartFraction(0, 0)).toBe(1);
  });

  it('is monotonic in time and stays within [floor, 1] (property)', () => {
    fc.assert(
      fc.property(
        fc.double({ min: -1e9, max: 1e10, noNaN: true }),
        fc.double({ min: -1e9, max: 1e10, noNaN: true }),
        fc.integer({ min: 0, max: 2_147_483_647 }),
        (a, b, duration) => {
          const [early, late] = a <= b ? [a, b] : [b, a];
          const f1 = slowStartFraction(early, duration);
          const f2 = slowStartFraction(late, duration);
          expect(f1).toBeLessThanOrEqual(f2);
          for (const f of [f1, f2]) {
            expect(f).toBeGreaterThanOrEqual(SLOW_START_MIN_FRACTION);
            expect(f).toBeLessThanOrEqual(1);
          }
        },
      ),
    );
  });
});

describe('a server’s ramp', () => {
  it('does not ramp a server serving from the start', () => {
    const clock = fakeClock();
    const server = makeServer('a', clock.now, { weight: 4 });
    expect(server.effectiveWeight).toBe(4);
    expect(server.rampFraction()).toBe(1);
    expect(server.stateUpdate().slowStartElapsedMs).toBeNull();
  });

  it('ramps a server coming back UP, and one going from MAINT to READY', () => {
    const clock = fakeClock();
    const server = makeServer('a', clock.now, { weight: 4 });
    server.markHealth(false);
    clock.advance(60_000);
    server.markHealth(true);
    expect(server.effectiveWeight).toBeCloseTo(4 * SLOW_START_MIN_FRACTION);
    clock.advance(5_000);
    expect(server.effectiveWeight).toBeCloseTo(2);
    clock.advance(5_000);
    expect(server.effectiveWeight).toBe(4);

    server.setAdminState('MAINT');
    expect(server.effectiveWeight).toBe(4); // not ramping: MAINT takes no client anyway
    clock.advance(1_000);
    server.setAdminState('READY');
    clock.advance(2_500);
    expect(server.effectiveWeight).toBeCloseTo(1);
  });

  it('stops the ramp when the server goes DOWN or to MAINT mid-ramp, and starts it over on return', () => {
    const clock = fakeClock();
    const server = makeServer('a', clock.now);
    server.setAdminState('MAINT');
    server.setAdminState('READY');
    clock.advance(8_000);
    expect(server.rampFraction()).toBeCloseTo(0.8);
    server.markHealth(false);
    expect(server.stateUpdate().slowStartElapsedMs).toBeNull();
    clock.advance(500);
    server.markHealth(true);
    expect(server.rampFraction()).toBe(SLOW_START_MIN_FRACTION);
    clock.advance(3_000);
    server.setAdminState('MAINT');
    clock.advance(100);
    server.setAdminState('READY');
    expect(server.rampFraction()).toBe(SLOW_START_MIN_FRACTION);
  });

  it('applies an operator weight change mid-ramp to the target', () => {
    const clock = fakeClock();
    const server = makeServer('a', clock.now, { weight: 2 });
    server.markHealth(false);
    server.markHealth(true);
    clock.advance(5_000);
    expect(server.effectiveWeight).toBeCloseTo(1);
    server.setWeight(10);
    expect(server.effectiveWeight).toBeCloseTo(5);
    clock.advance(5_000);
    expect(server.effectiveWeight).toBe(10);
  });

  it('does not ramp from DRAIN to READY (the server kept its cookie holders), nor with slowStart 0', () => {
    const clock = fakeClock();
    const draining = makeServer('a', clock.now);
    draining.setAdminState('DRAIN');
    draining.setAdminState('READY');
    expect(draining.rampFraction()).toBe(1);

    const instant = makeServer('b', clock.now, { slowStartMs: 0 });
    instant.markHealth(false);
    instant.markHealth(true);
    expect(instant.rampFraction()).toBe(1);
  });

  it('follows a reloaded slowStart mid-ramp, and drops the ramp of a server that moved elsewhere', () => {
    const clock = fakeClock();
    const server = makeServer('a', clock.now);
    server.markHealth(false);
    server.markHealth(true);
    clock.advance(5_000);
    server.reconfigure(serverConfig('a', { slowStartMs: 20_000 }), 0, timeouts);
    expect(server.rampFraction()).toBeCloseTo(0.25);
    server.reconfigure(serverConfig('a', { slowStartMs: 20_000, address: { host: '127.0.0.1', port: 10 } }), 0, timeouts);
    expect(server.rampFraction()).toBe(1);
  });

  it('keeps the effective weight monotonic in time and within the weight between state changes (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 256 }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.array(fc.integer({ min: 0, max: 5_000 }), { maxLength: 30 }),
        (weight, slowStartMs, steps) => {
          const clock = fakeClock();
          const server = makeServer('a', clock.now, { weight, slowStartMs });
          server.setAdminState('MAINT');
          server.setAdminState('READY');
          let previous = server.effectiveWeight;
          expect(previous).toBeGreaterThanOrEqual(0);
          for (const step of steps) {
            clock.advance(step);
            const current = server.effectiveWeight;
            expect(current).toBeGreaterThanOrEqual(previous);
            expect(current).toBeLessThanOrEqual(weight);
            if (weight > 0) expect(current).toBeGreaterThan(0);
            previous = current;
          }
        },
      ),
    );
  });

  it('hands its ramp to a worker as elapsed time, which the worker places on its own clock', () => {
    const primaryClock = fakeClock(1_000_000);
    const workerClock = fakeClock(7); // another process: another origin
    const primary = makeServer('a', primaryClock.now);
    const worker = makeServer('a', workerClock.now);
    primary.markHealth(false);
    worker.applyUpdate(primary.stateUpdate());
    primary.markHealth(true);
    primaryClock.advance(4_000);
    worker.applyUpdate(primary.stateUpdate());
    expect(worker.state).toBe('UP');
    expect(worker.rampFraction()).toBeCloseTo(0.4);
    for (const step of [1_000, 2_500, 3_000]) {
      primaryClock.advance(step);
      workerClock.advance(step);
      expect(worker.effectiveWeight).toBeCloseTo(primary.effectiveWeight);
    }
    primaryClock.advance(1_000);
    workerClock.advance(1_000);
    expect(worker.rampFraction()).toBe(1);
    // An update after the ramp carries none.
    worker.applyUpdate(primary.stateUpdate());
    expect(worker.stateUpdate().slowStartElapsedMs).toBeNull();
  });
});

/** Two servers of weight 1: `steady` has served all along, `cold` came back at the clock's start. */
function rampingPair(clock: ReturnType<typeof fakeClock>): { steady: UpstreamServer; cold: UpstreamServer } {
  const steady = makeServer('steady', clock.now);
  const cold = makeServer('cold', clock.now);
  cold.setAdminState('MAINT');
  cold.setAdminState('READY');
  return { steady, cold };
}

/** The share `cold` should get `elapsed` into the ramp: its effective weight over the total. */
function expectedShare(elapsed: number): number {
  const f = slowStartFraction(elapsed, SLOW_START_MS);
  return f / (1 + f);
}

describe.each<BalanceAlgorithm>(['roundrobin', 'leastconn'])('%s along the ramp', (algorithm) => {
  it.each(POINTS)('gives the returning server its share of sequential picks %i ms in', (elapsed) => {
    const clock = fakeClock();
    const { steady, cold } = rampingPair(clock);
    const policy = createPolicy(algorithm, [steady, cold]);
    clock.advance(elapsed);
    const picks = 2_000;
    let toCold = 0;
    for (let i = 0; i < picks; i++) if (policy.pick({ clientAddress: '192.0.2.1' }) === cold) toCold++;
    expect(Math.abs(toCold / picks - expectedShare(elapsed))).toBeLessThan(0.01);
  });
});

describe('leastconn along the ramp, picks holding their connection', () => {
  it.each(POINTS)('keeps the returning server’s share of connections %i ms in', (elapsed) => {
    const clock = fakeClock();
    const { steady, cold } = rampingPair(clock);
    const policy = createPolicy('leastconn', [steady, cold]);
    clock.advance(elapsed);
    const picks = 400;
    for (let i = 0; i < picks; i++) policy.pick({ clientAddress: '192.0.2.1' })!.takeSlot();
    // Relative to weight, both end up within one connection of each other.
    expect(Math.abs(cold.active - picks * expectedShare(elapsed))).toBeLessThanOrEqual(1.5);
    expect(steady.active + cold.active).toBe(picks);
  });
});

describe('source along the ramp', () => {
  const addresses = Array.from({ length: 20_000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);

  function setup() {
    const clock = fakeClock();
    const servers = ['s1', 's2', 's3'].map((name) => makeServer(name, clock.now));
    const policy = createPolicy('source', servers);
    const map = () => addresses.map((clientAddress) => policy.pick({ clientAddress })!.name);
    const home = map(); // everyone at full weight
    const cold = servers[1]!;
    cold.setAdminState('MAINT');
    const away = map(); // where s2's clients go while it is out
    cold.setAdminState('READY');
    return { clock, map, home, away };
  }

  it('brings back a growing fraction of the server’s own clients, the others staying where they were while it was away', () => {
    const { clock, map, home, away } = setup();
    const own = home.flatMap((name, i) => (name === 's2' ? [i] : []));
    expect(own.length).toBeGreaterThan(addresses.length / 5);
    let admittedBefore = new Set<number>();
    for (const elapsed of POINTS) {
      clock.set(50_000 + elapsed);
      const now = map();
      // Nobody else's client is taken, and every client is either home or where it was while s2 was away.
      now.forEach((name, i) => expect(name === home[i] || name === away[i]).toBe(true));
      const admitted = new Set(own.filter((i) => now[i] === 's2'));
      expect(Math.abs(admitted.size / own.length - slowStartFraction(elapsed, SLOW_START_MS))).toBeLessThan(0.03);
      // Stable: a client brought back stays back as the fraction grows.
      for (const i of admittedBefore) expect(admitted.has(i)).toBe(true);
      admittedBefore = admitted;
    }
    expect(admittedBefore.size).toBe(own.length);
  });

  it('sends every client to a ramping server when no other can take it', () => {
    const clock = fakeClock();
    const [s1, s2] = ['s1', 's2'].map((name) => makeServer(name, clock.now)) as [UpstreamServer, UpstreamServer];
    const policy = createPolicy('source', [s1, s2]);
    s1.setAdminState('MAINT');
    s2.setAdminState('MAINT');
    s2.setAdminState('READY');
    expect(s2.rampFraction()).toBe(SLOW_START_MIN_FRACTION);
    for (const clientAddress of addresses.slice(0, 2_000)) expect(policy.pick({ clientAddress })).toBe(s2);
    // Excluded (a retry), it is not taken for that request.
    expect(policy.pick({ clientAddress: addresses[0]!, exclude: new Set([s2]) })).toBeUndefined();
  });

  it('decides with a ticket unrelated to the ring position', () => {
    // Tickets spread evenly over [0, 1) even for neighbouring addresses.
    const tickets = addresses.map((a) => rampTicket(hashAddress(a)));
    const buckets = new Array<number>(10).fill(0);
    for (const t of tickets) {
      expect(t).toBeGreaterThanOrEqual(0);
      expect(t).toBeLessThan(1);
      buckets[Math.floor(t * 10)]!++;
    }
    for (const count of buckets) expect(Math.abs(count - addresses.length / 10)).toBeLessThan(addresses.length / 50);
  });
});

describe('cookie holders during the ramp', () => {
  it('still go to the ramping server their cookie names', () => {
    const clock = fakeClock();
    const { steady, cold } = rampingPair(clock);
    const config: BackendConfig = {
      name: 'web',
      balance: 'roundrobin',
      cookie: null,
      retries: 3,
      redispatch: true,
      protocol: 'http1',
      headers: { request: { set: [], add: [], remove: [] }, response: { set: [], add: [], remove: [] } },
      errorPages: {},
      forwardFor: { except: null, trusted: [] },
      check: null,
      slowStartMs: SLOW_START_MS,
      servers: [steady.config, cold.config],
    };
    const backend = new Backend(config, [steady, cold], timeouts);
    for (let i = 0; i < 50; i++) {
      const placed = backend.place({ clientAddress: '192.0.2.1', preferred: cold });
      expect(placed.kind === 'server' && placed.server).toBe(cold);
      backend.release(cold);
    }
    expect(cold.rampFraction()).toBe(SLOW_START_MIN_FRACTION);
  });
});
