// One upstream server at runtime, and the only owner of its state: health, operator
// state, weight, in-flight slots and counters change through its methods, and every
// change that matters to others (balancer, workers, state file, stats) is announced by
// one change event.
import type { ServerConfig, TimeoutsConfig } from '../config/types.js';
import type { ConnectionOptions } from 'node:tls';
import { createDialer, readCa, upstreamTlsOptions, type Dialer } from '../tls/upstream.js';
import { createH2Upstream } from '../upstream/h2-upstream.js';
import { createH1Upstream } from '../upstream/h1-upstream.js';
import type { Upstream } from '../upstream/upstream.js';

/** How a server is reached: its TLS options (pinned, fail-closed), null for plain TCP. */
export interface UpstreamEndpoint {
  readonly tls: ConnectionOptions | null;
}

/** Makes a server's Upstream; test doubles plug in here. */
export type UpstreamFactory = (config: ServerConfig, timeouts: TimeoutsConfig, endpoint: UpstreamEndpoint) => Upstream;

/** HTTP/1.1 through Doorman's own pool, or HTTP/2 sessions, as the backend's `protocol` says. */
export const createUpstream: UpstreamFactory = (config, timeouts, endpoint) =>
  config.protocol === 'h2' ? createH2Upstream(config, timeouts, endpoint.tls) : createH1Upstream(config, timeouts, endpoint.tls);
import { monotonicClock, slowStartFraction, type MonotonicClock } from './slow-start.js';
import { WaitQueue } from './wait-queue.js';

/** What an operator sets: READY takes traffic, DRAIN keeps cookie holders only, MAINT takes none. */
export type AdminState = 'READY' | 'DRAIN' | 'MAINT';
/** Every operator state, for validation and the stats page. */
export const ADMIN_STATES: readonly AdminState[] = ['READY', 'DRAIN', 'MAINT'];
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

/**
 * What changed: `health` (UP/DOWN), `admin` (READY/DRAIN/MAINT), `weight`, `retired`
 * (a reload removed it), `remote` (a worker applied the primary's view).
 */
export type ServerChangeKind = 'health' | 'admin' | 'weight' | 'retired' | 'remote';
export type ServerChangeListener = (server: UpstreamServer, kind: ServerChangeKind) => void;

/** A server's state as the primary decides it and sends to its workers. */
export interface ServerStateUpdate {
  readonly backend: string;
  readonly server: string;
  readonly healthy: boolean;
  readonly adminState: AdminState;
  readonly weight: number;
  readonly healthDescription: string;
  readonly lastChangeAt: number;
  /**
   * How far into its slow-start ramp the server is, null when not ramping. Elapsed
   * time, not a timestamp: each process has its own monotonic clock, and a worker
   * places the ramp's start on its own (the message's delay, a millisecond, is the only skew).
   */
  readonly slowStartElapsedMs: number | null;
}

/** A server of a backend, as the balancer and the exchange see it. */
export class UpstreamServer {
  readonly name: string;
  readonly backendName: string;
  /** Requests waiting for this server only (their cookie pins them here). */
  readonly queue = new WaitQueue<UpstreamServer | null>();
  #index: number;
  #config: ServerConfig;
  #timeouts: TimeoutsConfig;
  #ca: Buffer | null;
  #dial: Dialer;
  #upstream: Upstream;
  #endpointGeneration = 0;
  #retired = false;
  #active = 0;
  #weight: number;
  #weightOverridden = false;
  #healthy = true;
  #adminState: AdminState = 'READY';
  #lastChangeAt = Date.now();
  #lastCheck: LastCheck | null = null;
  #healthDescription = 'UP';
  #healthCounter: number | null = null;
  #requests = 0;
  #errors = 0;
  /**
   * Monotonic time the server started serving again (UP and out of MAINT) while its
   * slow start ramps; null when not ramping. A server serving at process start or
   * added by a reload does not ramp, as in HAProxy: servers starting together have
   * nobody to hand their traffic to, and a reload must not slow down the running ones.
   */
  #rampStartedAt: number | null = null;
  readonly #clock: MonotonicClock;
  readonly #listeners: ServerChangeListener[] = [];
  readonly #createUpstream: UpstreamFactory;

  constructor(
    backendName: string,
    config: ServerConfig,
    index: number,
    timeouts: TimeoutsConfig,
    createUpstreamOf: UpstreamFactory = createUpstream,
    clock: MonotonicClock = monotonicClock,
  ) {
    this.name = config.name;
    this.backendName = backendName;
    this.#index = index;
    this.#config = config;
    this.#weight = config.weight;
    this.#timeouts = timeouts;
    this.#ca = readCa(config);
    const tlsOptions = upstreamTlsOptions(config, this.#ca);
    this.#dial = createDialer(config, tlsOptions);
    this.#createUpstream = createUpstreamOf;
    this.#clock = clock;
    this.#upstream = createUpstreamOf(config, timeouts, { tls: tlsOptions });
  }

  // ---- what others read ------------------------------------------------------

  /** Position in the backend's server list (the persistence cookie's index). */
  get index(): number {
    return this.#index;
  }
  get config(): ServerConfig {
    return this.#config;
  }
  /** How health checks reach the server (the same TLS as traffic). */
  /** Opens a fresh connection to the server (health checks). */
  get dial(): Dialer {
    return this.#dial;
  }
  /** How requests reach the server. */
  get upstream(): Upstream {
    return this.#upstream;
  }
  /** Bumped when a reload points the server somewhere else: its health starts over. */
  get endpointGeneration(): number {
    return this.#endpointGeneration;
  }
  /** Removed from its backend by a reload: finishes what it holds, takes nothing new. */
  get retired(): boolean {
    return this.#retired;
  }
  /** Requests in flight now. */
  get active(): number {
    return this.#active;
  }
  /** The operator's (or the config's) weight: what slow start ramps towards. */
  get weight(): number {
    return this.#weight;
  }
  /** The weight the balancer uses now: `weight`, times slow start's fraction while the server ramps. */
  get effectiveWeight(): number {
    return this.#rampStartedAt === null ? this.#weight : this.#weight * this.rampFraction();
  }
  /** Slow start's share of the weight now: 1 when not ramping, else growing from 5 % to 1. */
  rampFraction(): number {
    const elapsed = this.#rampElapsedMs();
    return elapsed === null ? 1 : slowStartFraction(elapsed, this.#config.slowStartMs);
  }
  /** Set when an operator changed the weight: a reload then keeps it. */
  get weightOverridden(): boolean {
    return this.#weightOverridden;
  }
  get healthy(): boolean {
    return this.#healthy;
  }
  get adminState(): AdminState {
    return this.#adminState;
  }
  /** Date.now() of the last state change, for /api/state. */
  get lastChangeAt(): number {
    return this.#lastChangeAt;
  }
  /** The latest active check, null before the first. */
  get lastCheck(): LastCheck | null {
    return this.#lastCheck;
  }
  /** "UP", "UP 2/3 (going down)", ... from the health checker. */
  get healthDescription(): string {
    return this.#healthDescription;
  }
  /** HAProxy's health counter (0 .. rise+fall-1); null without active checks. */
  get healthCounter(): number | null {
    return this.#healthCounter;
  }
  /** Requests answered by this server (a 5xx included). */
  get requests(): number {
    return this.#requests;
  }
  /** Attempts that failed on this server, and 5xx answers. */
  get errors(): number {
    return this.#errors;
  }

  get state(): ServerState {
    if (this.#adminState === 'MAINT') return 'MAINT';
    if (!this.#healthy) return 'DOWN';
    return this.#adminState === 'DRAIN' ? 'DRAIN' : 'UP';
  }

  /** True when a request may be started now without exceeding maxconn. */
  hasRoom(): boolean {
    return this.#config.maxconn === 0 || this.#active < this.#config.maxconn;
  }

  /** May take a new client: UP, READY, weight > 0. Room is checked separately. */
  takesNewClients(): boolean {
    return !this.#retired && this.#healthy && this.#adminState === 'READY' && this.#weight > 0;
  }

  /** May serve a client whose cookie names it: UP and READY or DRAIN. */
  takesCookieHolders(): boolean {
    return !this.#retired && this.#healthy && this.#adminState !== 'MAINT';
  }

  /** For the balancing policies: may take a new client right now. */
  isAvailable(): boolean {
    return this.takesNewClients() && this.hasRoom();
  }

  /** What the primary sends its workers about this server. */
  stateUpdate(): ServerStateUpdate {
    return {
      backend: this.backendName,
      server: this.name,
      healthy: this.#healthy,
      adminState: this.#adminState,
      weight: this.#weight,
      healthDescription: this.#healthDescription,
      lastChangeAt: this.#lastChangeAt,
      slowStartElapsedMs: this.#rampElapsedMs(),
    };
  }

  /** Listens to every change of health, operator state, weight or retirement. */
  onChange(listener: ServerChangeListener): void {
    this.#listeners.push(listener);
  }

  // ---- the request path (no event: these change per request) ---------------------

  /** A request takes one of the server's slots (the backend checked hasRoom). */
  takeSlot(): void {
    this.#active += 1;
  }

  releaseSlot(): void {
    this.#active -= 1;
  }

  /** Counts an attempt: answered (any status) or not, and whether it counts as an error. */
  countAttempt(answered: boolean, failed: boolean): void {
    if (answered) this.#requests += 1;
    if (failed) this.#errors += 1;
  }

  // ---- health (the health checker, or the primary's view in a worker) ------------

  /** Notes a check result and the checker's description, without a transition. */
  recordCheck(check: LastCheck | null, description: string, counter: number | null): void {
    if (check) this.#lastCheck = check;
    this.#healthDescription = description;
    this.#healthCounter = counter;
  }

  /** Starts the health counter over (a backend's check added or removed). */
  resetHealthCounter(counter: number | null): void {
    this.#healthCounter = counter;
  }

  /** UP or DOWN. A server going down keeps no idle connection; those in flight finish. */
  markHealth(healthy: boolean, description: string = healthy ? 'UP' : 'DOWN'): void {
    this.#healthDescription = description;
    if (healthy === this.#healthy) return;
    const wasServing = this.#serving();
    this.#healthy = healthy;
    this.#lastChangeAt = Date.now();
    this.#followRamp(wasServing);
    if (!healthy) this.#upstream.recycle();
    this.#emit('health');
  }

  // ---- operator ------------------------------------------------------------------

  /** READY, DRAIN or MAINT. MAINT takes the server out: idle keep-alive connections go now. */
  setAdminState(state: AdminState): void {
    if (state !== this.#adminState) this.#lastChangeAt = Date.now();
    const wasServing = this.#serving();
    this.#adminState = state;
    this.#followRamp(wasServing);
    if (state === 'MAINT') this.#upstream.recycle();
    this.#emit('admin');
  }

  /** An operator's weight (0..256); `overridden` (a reload keeps it) is false when the state file restores the config's own. */
  setWeight(weight: number, overridden = true): void {
    this.#weight = weight;
    this.#weightOverridden = overridden;
    this.#emit('weight');
  }

  /** A worker applies what the primary decided, as if it had decided it itself. */
  applyUpdate(update: ServerStateUpdate): void {
    const wasServing = this.#serving();
    this.#healthy = update.healthy;
    this.#adminState = update.adminState;
    this.#weight = update.weight;
    this.#healthDescription = update.healthDescription;
    this.#lastChangeAt = update.lastChangeAt;
    // The primary's ramp, not one of our own: every worker ramps in step with it.
    this.#rampStartedAt = update.slowStartElapsedMs === null ? null : this.#clock() - update.slowStartElapsedMs;
    if (wasServing && !this.#serving()) this.#upstream.recycle();
    this.#emit('remote');
  }

  // ---- reload --------------------------------------------------------------------

  /** A reload removed the server: it takes nothing new and closes once idle (the caller closes it). */
  retire(): void {
    this.#retired = true;
    this.#emit('retired');
  }

  /**
   * Applies a reloaded config to a server that still exists: a changed address, TLS,
   * CA content, maxconn or timeout gets a fresh dialer and pool (the old pool
   * finishes its requests, then closes); operator state and counters stay, and so does
   * health unless the server now lives somewhere else.
   */
  reconfigure(config: ServerConfig, index: number, timeouts: TimeoutsConfig): void {
    this.#index = index;
    if (!this.#weightOverridden) this.#weight = config.weight;
    // The CA is read again so a certificate replaced under the same file name is seen.
    const ca = readCa(config);
    const sameEndpoint =
      JSON.stringify([config.address, config.tls]) === JSON.stringify([this.#config.address, this.#config.tls]) &&
      (ca === null ? this.#ca === null : this.#ca !== null && ca.equals(this.#ca));
    const sameConnection =
      sameEndpoint &&
      config.maxconn === this.#config.maxconn &&
      timeouts.connectMs === this.#timeouts.connectMs &&
      timeouts.serverMs === this.#timeouts.serverMs;
    this.#config = config;
    this.#timeouts = timeouts;
    if (!sameEndpoint) {
      this.#endpointGeneration += 1;
      this.#healthy = true;
      this.#healthDescription = 'UP';
      this.#healthCounter = null;
      this.#lastCheck = null;
      this.#lastChangeAt = Date.now();
      // Somewhere else now: a new server, which does not ramp (as one added by a reload).
      this.#rampStartedAt = null;
    }
    if (sameConnection) return;
    this.#ca = ca;
    const tlsOptions = upstreamTlsOptions(config, ca);
    this.#dial = createDialer(config, tlsOptions);
    const old = this.#upstream;
    this.#upstream = this.#createUpstream(config, timeouts, { tls: tlsOptions });
    old.close().catch(() => {});
  }

  /** Lets requests in flight finish, then closes every connection (reload, shutdown). */
  close(): Promise<void> {
    return this.#upstream.close();
  }

  /** Destroys every connection, in flight or not. */
  destroy(): Promise<void> {
    return this.#upstream.destroy();
  }

  /** Time into the ramp, null when not ramping. An ended ramp is cleared here, so later reads skip the clock. */
  #rampElapsedMs(): number | null {
    const startedAt = this.#rampStartedAt;
    if (startedAt === null) return null;
    const elapsed = this.#clock() - startedAt;
    if (elapsed < this.#config.slowStartMs) return elapsed;
    this.#rampStartedAt = null;
    return null;
  }

  /** UP and not in MAINT: serves someone (new clients when READY, cookie holders when DRAIN). */
  #serving(): boolean {
    return this.#healthy && this.#adminState !== 'MAINT';
  }

  /**
   * Starts the ramp when the server starts serving again, and stops it when it stops
   * (DOWN or MAINT mid-ramp): the next return ramps from the bottom again. DRAIN to
   * READY is no return: the server kept serving its cookie holders, so it is warm.
   */
  #followRamp(wasServing: boolean): void {
    const serving = this.#serving();
    if (serving && !wasServing) this.#rampStartedAt = this.#config.slowStartMs > 0 ? this.#clock() : null;
    else if (!serving) this.#rampStartedAt = null;
  }

  #emit(kind: ServerChangeKind): void {
    for (const listener of this.#listeners) listener(this, kind);
  }
}
