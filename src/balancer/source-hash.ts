// `source`: the client address hashed onto a consistent-hash ring. The ring is built
// over every server with a positive weight, available or not, with points in
// proportion to weight; a pick takes the first point clockwise whose server is
// eligible. So a server going away (unavailable, excluded, or removed from the list)
// moves only its own clients, and they come back when it returns.
//
// Slow start: the ring follows the operator's weights only; rebuilding it as a ramp
// grows would move points and shuffle the clients of every server. Instead a ramping
// server keeps, of the clients that reach it on the ring, those whose ticket (a second
// hash of the address, in [0, 1), unrelated to where the address falls on the ring) is
// below its ramp fraction; the others walk on clockwise, to the server they had while it
// was away. The fraction only grows, so a client comes back once and stays: its mapping
// never flaps during the ramp. When no other server can take the client, the ramping
// server does: a ramp shares traffic, it never refuses it.

import { createHash } from 'node:crypto';
import { isEligible, type BalancePolicy, type BalanceTarget, type PickContext } from './policy.js';

/** Ring points per unit of weight (ketama's 160: about ±10 % spread between equal servers). */
export const POINTS_PER_WEIGHT = 160;
/** Cap on the ring's size; with very large weights every server gets fewer points per unit. */
export const MAX_POINTS = 65_536;

/** A consistent-hash policy on the client address over `servers`. */
export function createSourceHashPolicy<T extends BalanceTarget>(servers: readonly T[]): BalancePolicy<T> {
  return new SourceHashPolicy(servers);
}

class SourceHashPolicy<T extends BalanceTarget> implements BalancePolicy<T> {
  readonly #servers: readonly T[];
  /** Sorted point hashes. */
  #points = new Uint32Array(0);
  /** Index into #servers of the owner of each point. */
  #owners = new Uint32Array(0);
  /** Servers with at least one point. */
  #serversOnRing = 0;
  /** Per-pick marks of servers already found ineligible (stamp === #pickId). */
  readonly #rejected: Uint32Array;
  #pickId = 0;

  constructor(servers: readonly T[]) {
    this.#servers = [...servers];
    this.#rejected = new Uint32Array(this.#servers.length);
    this.#build();
  }

  pick(ctx: PickContext): T | undefined {
    const points = this.#points;
    const count = points.length;
    if (count === 0) return undefined;
    const pickId = this.#nextPickId();
    const hash = hashAddress(ctx.clientAddress);
    let index = lowerBound(points, hash);
    let rejected = 0;
    let ticket = -1;
    /** The first server whose ramp did not admit this client: its pick if nobody else can. */
    let deferred: T | undefined;
    for (let walked = 0; walked < count; walked++, index++) {
      if (index === count) index = 0;
      const owner = this.#owners[index]!;
      if (this.#rejected[owner] === pickId) continue;
      const server = this.#servers[owner]!;
      if (isEligible(server, ctx)) {
        const effective = server.effectiveWeight;
        if (effective >= server.weight) return server;
        if (ticket < 0) ticket = rampTicket(hash);
        if (ticket < effective / server.weight) return server;
        deferred ??= server;
      }
      this.#rejected[owner] = pickId;
      if (++rejected === this.#serversOnRing) return deferred;
    }
    return deferred;
  }

  weightsChanged(): void {
    this.#build();
  }

  #nextPickId(): number {
    if (this.#pickId === 0xffffffff) {
      this.#rejected.fill(0);
      this.#pickId = 0;
    }
    return ++this.#pickId;
  }

  #build(): void {
    const servers = this.#servers;
    const n = servers.length;
    let totalWeight = 0;
    for (const server of servers) if (server.weight > 0) totalWeight += server.weight;
    const scale = Math.min(POINTS_PER_WEIGHT, MAX_POINTS / totalWeight);
    // Ties (same hash) are ordered by server name, so a server's place on the ring
    // does not depend on the other servers of the list.
    const byName = servers.map((_, index) => index).sort((a, b) => compareNames(servers[a]!.name, servers[b]!.name));
    const keys: number[] = [];
    let serversOnRing = 0;
    byName.forEach((owner, rank) => {
      const server = servers[owner]!;
      if (!(server.weight > 0)) return;
      serversOnRing++;
      // hash * n + rank stays below 2^53 for any realistic n, so it sorts exactly.
      for (const hash of serverPoints(server.name, Math.max(1, Math.round(scale * server.weight)))) keys.push(hash * n + rank);
    });
    const sorted = Float64Array.from(keys).sort();
    this.#points = new Uint32Array(sorted.length);
    this.#owners = new Uint32Array(sorted.length);
    for (let i = 0; i < sorted.length; i++) {
      const rank = sorted[i]! % n;
      this.#points[i] = (sorted[i]! - rank) / n;
      this.#owners[i] = byName[rank]!;
    }
    this.#serversOnRing = serversOnRing;
  }
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The `count` ring points of a server: 32-bit words of sha256(`name#block`), 8 per block. */
function serverPoints(name: string, count: number): number[] {
  const out: number[] = [];
  for (let block = 0; out.length < count; block++) {
    const digest = createHash('sha256').update(`${name}#${block}`).digest();
    for (let offset = 0; offset < digest.length && out.length < count; offset += 4) {
      out.push(digest.readUInt32BE(offset));
    }
  }
  return out;
}

/** 32-bit FNV-1a of the address with murmur3's finalizer for avalanche; `::ffff:a.b.c.d` hashes as `a.b.c.d`. */
export function hashAddress(address: string): number {
  const start = address.startsWith('::ffff:') && address.includes('.', 7) ? 7 : 0;
  let h = 0x811c9dc5;
  for (let i = start; i < address.length; i++) {
    h ^= address.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A client's place in [0, 1) against slow start's fraction: murmur3's finalizer over its address hash, salted. */
export function rampTicket(addressHash: number): number {
  let h = (addressHash ^ 0x9e3779b9) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 0x1_0000_0000;
}

/** First index whose value is >= `value` (points.length when none). */
function lowerBound(points: Uint32Array, value: number): number {
  let low = 0;
  let high = points.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (points[mid]! < value) low = mid + 1;
    else high = mid;
  }
  return low;
}
