// One upstream server at runtime: its connection pool, health, operator state,
// weight, in-flight count and its own queue of cookie-pinned waiters.
import { Pool } from 'undici';
import type { ServerConfig, TimeoutsConfig } from '../config/types.js';
import { createUpstreamConnector, readCa, type Connector } from '../tls/upstream.js';
import { WaitQueue } from './wait-queue.js';

/** What an operator sets: READY takes traffic, DRAIN keeps cookie holders only, MAINT takes none. */
export type AdminState = 'READY' | 'DRAIN' | 'MAINT';
/** What /api/state shows: MAINT and DOWN win over DRAIN, DRAIN over UP. */
export type ServerState = 'UP' | 'DOWN' | 'DRAIN' | 'MAINT';

/** The result of the latest active health check of a server. */
export interface LastCheck {
  readonly ok: boolean;
  /** HTTP status, null when none was received. */
  readonly code: number | null;
  readonly durationMs: number;
  /** `ok`, `http 503`, `tls: pin mismatch`, ... */
  readonly reason: string;
  /** Date.now() of the check. */
  readonly at: number;
}

/** The origin undici connects to; TLS is the connector's business, so always http:. */
function originOf(config: ServerConfig): string {
  const { host, port } = config.address;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

/** A server of a backend, as the balancer and the proxy see it. */
export class UpstreamServer {
  readonly name: string;
  readonly backendName: string;
  /** Position in the backend's server list (the persistence cookie's index). */
  index: number;
  config: ServerConfig;
  connector: Connector;
  /**
   * Bumped when a reload points the server somewhere else (address, TLS settings or the
   * CA file's content): its health starts over, as a new server's would.
   */
  endpointGeneration = 0;
  #ca: Buffer | null;
  #pool: Pool;
  #timeouts: TimeoutsConfig;
  /** Removed from its backend by a reload: finishes what it holds, takes nothing new. */
  retired = false;
  /** Requests waiting for this server only (their cookie pins them here). */
  readonly queue = new WaitQueue<UpstreamServer | null>();
  /** Requests in flight now. */
  active = 0;
  weight: number;
  /** Set when an operator changed the weight: a reload then keeps it. */
  weightOverridden = false;
  healthy = true;
  adminState: AdminState = 'READY';
  /** Date.now() of the last state change, for /api/state. */
  lastChangeAt = Date.now();
  /** The latest active check, null before the first. */
  lastCheck: LastCheck | null = null;
  /** "UP", "UP 2/3 (going down)", ... from the health checker. */
  healthDescription = 'UP';
  /** HAProxy's health counter (0 .. rise+fall-1) from the health checker; null without active checks. */
  healthCounter: number | null = null;
  /** Requests answered by this server, and attempts that failed on it. */
  requests = 0;
  errors = 0;

  constructor(backendName: string, config: ServerConfig, index: number, timeouts: TimeoutsConfig) {
    this.name = config.name;
    this.backendName = backendName;
    this.index = index;
    this.config = config;
    this.weight = config.weight;
    this.#ca = readCa(config);
    this.connector = createUpstreamConnector(config, timeouts.connectMs, this.#ca);
    this.#timeouts = timeouts;
    this.#pool = this.#createPool();
  }

  /** The keep-alive connection pool requests to this server go through. */
  get pool(): Pool {
    return this.#pool;
  }

  #createPool(): Pool {
    return new Pool(originOf(this.config), {
      connect: this.connector,
      connections: this.config.maxconn > 0 ? this.config.maxconn : null,
      pipelining: 1,
      headersTimeout: this.#timeouts.serverMs,
      bodyTimeout: this.#timeouts.serverMs,
      strictContentLength: true,
    });
  }

  /**
   * Swaps in a fresh pool and closes the old one gracefully: requests in flight finish,
   * idle keep-alive sockets close now. Used when the server goes DOWN, so no stale
   * connection outlives its failure.
   */
  recyclePool(): void {
    const old = this.#pool;
    this.#pool = this.#createPool();
    old.close().catch(() => {});
  }

  /**
   * Applies a reloaded config to a server that still exists: a changed address, TLS,
   * CA content, maxconn or timeout gets a fresh connector and pool (the old pool
   * finishes its requests, then closes); operator state and counters stay, and so does
   * health unless the server now lives somewhere else.
   */
  reconfigure(config: ServerConfig, index: number, timeouts: TimeoutsConfig): void {
    this.index = index;
    if (!this.weightOverridden) this.weight = config.weight;
    // The CA is read again so a certificate replaced under the same file name is seen.
    const ca = readCa(config);
    const sameEndpoint =
      JSON.stringify([config.address, config.tls]) === JSON.stringify([this.config.address, this.config.tls]) &&
      (ca === null ? this.#ca === null : this.#ca !== null && ca.equals(this.#ca));
    const sameConnection =
      sameEndpoint && config.maxconn === this.config.maxconn && timeouts.connectMs === this.#timeouts.connectMs && timeouts.serverMs === this.#timeouts.serverMs;
    this.config = config;
    this.#timeouts = timeouts;
    if (!sameEndpoint) {
      this.endpointGeneration += 1;
      this.healthy = true;
      this.healthDescription = 'UP';
      this.healthCounter = null;
      this.lastCheck = null;
      this.lastChangeAt = Date.now();
    }
    if (sameConnection) return;
    this.#ca = ca;
    this.connector = createUpstreamConnector(config, timeouts.connectMs, ca);
    this.recyclePool();
  }

  get state(): ServerState {
    if (this.adminState === 'MAINT') return 'MAINT';
    if (!this.healthy) return 'DOWN';
    return this.adminState === 'DRAIN' ? 'DRAIN' : 'UP';
  }

  /** True when a request may be started now without exceeding maxconn. */
  hasRoom(): boolean {
    return this.config.maxconn === 0 || this.active < this.config.maxconn;
  }

  /** May take a new client: UP, READY, weight > 0. Room is checked separately. */
  takesNewClients(): boolean {
    return !this.retired && this.healthy && this.adminState === 'READY' && this.weight > 0;
  }

  /** May serve a client whose cookie names it: UP and READY or DRAIN. */
  takesCookieHolders(): boolean {
    return !this.retired && this.healthy && this.adminState !== 'MAINT';
  }

  /** For the balancing policies: may take a new client right now. */
  isAvailable(): boolean {
    return this.takesNewClients() && this.hasRoom();
  }

  /** Lets requests in flight finish, then closes every connection (reload, shutdown). */
  async close(): Promise<void> {
    await this.#pool.close();
  }

  /** Destroys every connection, in flight or not. */
  async destroy(): Promise<void> {
    await this.#pool.destroy();
  }
}
