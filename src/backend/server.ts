// One upstream server at runtime: its connection pool, health, operator state,
// weight, in-flight count and its own queue of cookie-pinned waiters.
import { Pool } from 'undici';
import type { ServerConfig, TimeoutsConfig } from '../config/types.js';
import { createUpstreamConnector, type Connector } from '../tls/upstream.js';
import { WaitQueue } from './wait-queue.js';

/** What an operator sets: READY takes traffic, DRAIN keeps cookie holders only, MAINT takes none. */
export type AdminState = 'READY' | 'DRAIN' | 'MAINT';
/** What /api/state shows: MAINT and DOWN win over DRAIN, DRAIN over UP. */
export type ServerState = 'UP' | 'DOWN' | 'DRAIN' | 'MAINT';

/** The origin undici connects to; TLS is the connector's business, so always http:. */
function originOf(config: ServerConfig): string {
  const { host, port } = config.address;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

/** A server of a backend, as the balancer and the proxy see it. */
export class UpstreamServer {
  readonly name: string;
  /** Position in the backend's server list (the persistence cookie's index). */
  readonly index: number;
  readonly config: ServerConfig;
  readonly connector: Connector;
  readonly pool: Pool;
  /** Requests waiting for this server only (their cookie pins them here). */
  readonly queue = new WaitQueue<UpstreamServer | null>();
  /** Requests in flight now. */
  active = 0;
  weight: number;
  healthy = true;
  adminState: AdminState = 'READY';
  /** performance.now() of the last state change, for /api/state and transition logs. */
  lastChangeAt = performance.now();

  constructor(config: ServerConfig, index: number, timeouts: TimeoutsConfig) {
    this.name = config.name;
    this.index = index;
    this.config = config;
    this.weight = config.weight;
    this.connector = createUpstreamConnector(config, timeouts.connectMs);
    this.pool = new Pool(originOf(config), {
      connect: this.connector,
      connections: config.maxconn > 0 ? config.maxconn : null,
      pipelining: 1,
      headersTimeout: timeouts.serverMs,
      bodyTimeout: timeouts.serverMs,
      strictContentLength: true,
    });
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
    return this.healthy && this.adminState === 'READY' && this.weight > 0;
  }

  /** May serve a client whose cookie names it: UP and READY or DRAIN. */
  takesCookieHolders(): boolean {
    return this.healthy && this.adminState !== 'MAINT';
  }

  /** For the balancing policies: may take a new client right now. */
  isAvailable(): boolean {
    return this.takesNewClients() && this.hasRoom();
  }

  /** Closes the pool's idle keep-alive connections and refuses new ones (reload, shutdown). */
  async close(): Promise<void> {
    await this.pool.close();
  }

  /** Destroys every connection, in flight or not. */
  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}
