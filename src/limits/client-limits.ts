// A frontend's per-client limits (`frontends[].limits`): allow and deny lists, concurrent
// connections and a request-rate token bucket per client, counted by clientKey (an IPv4
// address, an IPv6 /64). One table per frontend and process, kept across reloads.
//
// The table is bounded. A client with a connection open is "active": its entry is never
// evicted, so its connection count is exact; active entries are at most the process's
// open client connections (the global maxconn). The others are "resting" (only their
// token bucket is worth remembering), kept in last-use order and capped at `tableSize`:
//  - an entry whose bucket has refilled is exactly as good as none, so it is dropped
//    (those are the oldest ones: every entry refills in the same time);
//  - when the cap is reached, the fullest bucket among the oldest few is evicted: the
//    entry whose loss forgives the least. A flood of fresh addresses creates nearly full
//    buckets, so it evicts its own entries first, not the state of clients being
//    throttled (a throttled client keeps its low bucket until it refills or goes quiet).
import type { BlockList } from 'node:net';
import { cidrList, clientKey, inBlockList } from '../client-address.js';
import type { LimitsConfig } from '../config/types.js';

/** Why a client was refused: a lists' refusal, too many connections, too many requests. */
export type LimitReason = 'deny' | 'connections' | 'rate';

/** One client's rejections since its last log line, when it is time for the next. */
export interface RejectionSummary {
  readonly rejected: number;
}

/**
 * Hears every rejection; `summary` is non-null at most once per client per
 * LOG_INTERVAL_MS (one log line per client per interval, never one per request).
 */
export type RejectionListener = (reason: LimitReason, client: string, summary: RejectionSummary | null) => void;

/** A client gets at most one log line per this long. */
export const LOG_INTERVAL_MS = 10_000;
/** How many of the oldest resting entries an eviction compares. */
const EVICTION_SAMPLE = 8;

interface Entry {
  readonly key: string;
  /** Open connections. */
  connections: number;
  /** Tokens at `stampMs`; +Infinity until a rate applies (clamped to the burst at the first refill). */
  tokens: number;
  stampMs: number;
  loggedMs: number;
  /** Rejections not yet in a log line. */
  unlogged: number;
  /** Neighbours in the resting list (older, newer); null at its ends or when active. */
  older: Entry | null;
  newer: Entry | null;
}

function newEntry(key: string, tokens: number, now: number): Entry {
  return { key, connections: 0, tokens, stampMs: now, loggedMs: Number.NEGATIVE_INFINITY, unlogged: 0, older: null, newer: null };
}

/**
 * Resting entries by key, and in last-use order as a linked list (oldest first): a Map
 * used as a queue (delete at the front, insert at the back) makes V8 skip every deleted
 * slot on each walk from the front, so the order is kept by hand.
 */
class RestingTable {
  readonly #byKey = new Map<string, Entry>();
  #oldest: Entry | null = null;
  #newest: Entry | null = null;

  get size(): number {
    return this.#byKey.size;
  }

  get oldest(): Entry | null {
    return this.#oldest;
  }

  get(key: string): Entry | undefined {
    return this.#byKey.get(key);
  }

  /** Adds `entry` as the newest. */
  push(entry: Entry): void {
    this.#byKey.set(entry.key, entry);
    entry.older = this.#newest;
    entry.newer = null;
    if (this.#newest !== null) this.#newest.newer = entry;
    else this.#oldest = entry;
    this.#newest = entry;
  }

  delete(entry: Entry): void {
    if (this.#byKey.get(entry.key) !== entry) return;
    this.#byKey.delete(entry.key);
    if (entry.older !== null) entry.older.newer = entry.newer;
    else this.#oldest = entry.newer;
    if (entry.newer !== null) entry.newer.older = entry.older;
    else this.#newest = entry.older;
    entry.older = null;
    entry.newer = null;
  }

  clear(): void {
    this.#byKey.clear();
    this.#oldest = null;
    this.#newest = null;
  }
}

export class ClientLimits {
  #config!: LimitsConfig;
  #allow: BlockList | null = null;
  #deny: BlockList | null = null;
  readonly #onReject: RejectionListener;
  readonly #now: () => number;
  /** Clients with a connection open: never evicted. */
  readonly #active = new Map<string, Entry>();
  /** Clients without one, least recently used first; only kept while a rate applies. */
  readonly #resting = new RestingTable();

  /** `now` is a monotonic clock in milliseconds (tests pass their own). */
  constructor(config: LimitsConfig, onReject: RejectionListener, now: () => number = () => performance.now()) {
    this.#onReject = onReject;
    this.#now = now;
    this.configure(config);
  }

  /** A reload's limits: open connections stay counted, buckets are kept (clamped to a lower burst). */
  configure(config: LimitsConfig): void {
    this.#config = config;
    this.#allow = cidrList(config.allow);
    this.#deny = cidrList(config.deny);
    if (config.requestRate === null) this.#resting.clear();
    while (this.#resting.size > config.tableSize) this.#evict(this.#now());
  }

  /** Clients remembered: with a connection open, and resting. */
  get size(): { readonly active: number; readonly resting: number } {
    return { active: this.#active.size, resting: this.#resting.size };
  }

  /**
   * A new connection from `address` (in its one spelling): null when refused (the deny
   * list, the allow list, or the client's connection limit), else the function to call
   * once when it closes.
   */
  admitConnection(address: string): (() => void) | null {
    if (inBlockList(this.#deny, address) || (this.#allow !== null && !inBlockList(this.#allow, address))) {
      this.#onReject('deny', address, null);
      return null;
    }
    const now = this.#now();
    this.#expire(now);
    const key = clientKey(address);
    let entry = this.#active.get(key);
    const limit = this.#config.connections;
    if (entry !== undefined && limit !== null && entry.connections >= limit) {
      this.#reject('connections', entry, now);
      return null;
    }
    if (entry === undefined) {
      entry = this.#resting.get(key) ?? newEntry(key, Number.POSITIVE_INFINITY, now);
      this.#resting.delete(entry);
      this.#active.set(key, entry);
    }
    entry.connections += 1;
    const admitted = entry;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      admitted.connections -= 1;
      if (admitted.connections === 0 && this.#active.get(key) === admitted) {
        this.#active.delete(key);
        this.#rest(admitted, this.#now());
      }
    };
  }

  /**
   * One request from `address`: 0 when it may go on (a token was taken), else the
   * seconds until the client has a token again (Retry-After, rounded up, at least 1).
   */
  takeRequest(address: string): number {
    const rate = this.#config.requestRate;
    if (rate === null) return 0;
    const now = this.#now();
    const key = clientKey(address);
    let entry = this.#active.get(key);
    if (entry === undefined) {
      // A client without an open connection here (accepted before a reload added limits).
      entry = this.#resting.get(key) ?? newEntry(key, rate.burst, now);
      // The newest again.
      this.#resting.delete(entry);
      this.#expire(now);
      this.#makeRoom(now);
      this.#resting.push(entry);
    }
    this.#refill(entry, now);
    if (entry.tokens >= 1) {
      entry.tokens -= 1;
      return 0;
    }
    this.#reject('rate', entry, now);
    return Math.max(1, Math.ceil(((1 - entry.tokens) * rate.perMs) / rate.rate / 1000));
  }

  #refill(entry: Entry, now: number): void {
    const rate = this.#config.requestRate;
    if (rate === null) return;
    entry.tokens = Math.min(rate.burst, entry.tokens + ((now - entry.stampMs) * rate.rate) / rate.perMs);
    entry.stampMs = now;
  }

  #reject(reason: LimitReason, entry: Entry, now: number): void {
    entry.unlogged += 1;
    if (now - entry.loggedMs < LOG_INTERVAL_MS) {
      this.#onReject(reason, entry.key, null);
      return;
    }
    const summary = { rejected: entry.unlogged };
    entry.unlogged = 0;
    entry.loggedMs = now;
    this.#onReject(reason, entry.key, summary);
  }

  /** A client's last connection closed: its bucket is remembered while it is worth anything. */
  #rest(entry: Entry, now: number): void {
    if (this.#config.requestRate === null) return;
    this.#refill(entry, now);
    if (entry.tokens >= this.#config.requestRate.burst) return;
    this.#expire(now);
    this.#makeRoom(now);
    this.#resting.push(entry);
  }

  /** Drops the resting entries whose bucket has refilled: the oldest ones, as all refill alike. */
  #expire(now: number): void {
    const rate = this.#config.requestRate;
    if (rate === null) return;
    const refillMs = (rate.burst * rate.perMs) / rate.rate;
    for (let entry = this.#resting.oldest; entry !== null && now - entry.stampMs >= refillMs; entry = this.#resting.oldest)
      this.#resting.delete(entry);
  }

  #makeRoom(now: number): void {
    while (this.#resting.size >= this.#config.tableSize) this.#evict(now);
  }

  /** Evicts the fullest bucket among the oldest EVICTION_SAMPLE resting entries. */
  #evict(now: number): void {
    const rate = this.#config.requestRate;
    let victim: Entry | null = null;
    let most = Number.NEGATIVE_INFINITY;
    let entry = this.#resting.oldest;
    for (let seen = 0; entry !== null && seen < EVICTION_SAMPLE; seen++, entry = entry.newer) {
      const tokens = rate === null ? 0 : Math.min(rate.burst, entry.tokens + ((now - entry.stampMs) * rate.rate) / rate.perMs);
      if (tokens > most) [victim, most] = [entry, tokens];
    }
    if (victim !== null) this.#resting.delete(victim);
  }
}
