// The health checker: one probe loop per server (active checks) plus the consecutive-error
// count of live traffic (passive checks). It changes nothing itself: every result and every
// UP/DOWN transition goes to one reporter, which logs, updates metrics and the backend.
import type { CheckConfig, ServerConfig } from '../config/types.js';
import { classifyUpstreamError } from '../upstream/classify.js';
import type { Dialer } from '../tls/upstream.js';
import { probeServer, type Probe, type ProbeResult } from './probe.js';
import {
  forceDown,
  initialHealth,
  isFullyDown,
  isInTransition,
  nextHealth,
  rescaleHealth,
  type HealthState,
  type HealthStatus,
} from './state.js';

/** One server to check; `key` is "backend/server". */
export interface HealthTarget {
  readonly key: string;
  readonly server: ServerConfig;
  readonly check: CheckConfig;
  /** Opens the probe's connection. */
  readonly dial: Dialer;
  /** Changes when the server is moved elsewhere (UpstreamServer.endpointGeneration): its health starts over. */
  readonly generation?: number;
}

/** A change of a server's status, with what caused it. */
export interface Transition {
  readonly from: HealthStatus;
  readonly to: HealthStatus;
  /** The probe's reason (`http 503`, `tls: pin mismatch`, `ok`) or `passive: N consecutive errors`. */
  readonly reason: string;
  /** Duration of the probe that caused it; 0 for a passive mark-down. */
  readonly checkDurationMs: number;
  /** Time spent in the previous status. */
  readonly previousStateMs: number;
}

/** The checker's only way out: called after every probe, and on a passive transition (then `result` is null). */
export interface HealthReporter {
  onResult(key: string, result: ProbeResult | null, health: HealthState, transition: Transition | null): void;
}

export interface HealthCheckerOptions {
  readonly targets: readonly HealthTarget[];
  readonly reporter: HealthReporter;
  /** Replaces probeServer (a seam for tests). */
  readonly probe?: Probe;
  /** Replaces Math.random for the first-probe offset and the jitter. */
  readonly random?: () => number;
}

/** The running checker; see createHealthChecker. */
export interface HealthChecker {
  /** Starts every target's loop, the first probe at a random point within its interval. */
  start(): void;
  /** Clears the timers and resolves once the probes in flight have finished. */
  stop(): Promise<void>;
  /** Probes one target (or all) now and resolves after the result has been applied and reported. */
  runOnce(key?: string): Promise<void>;
  /** The current health of a target, undefined for an unknown key. */
  health(key: string): HealthState | undefined;
  /** A passive check: the outcome of one request of live traffic to the target's server. */
  observe(key: string, ok: boolean): void;
  /** Replaces the targets (a reload): kept keys keep their health, new ones start, removed ones stop. */
  setTargets(targets: readonly HealthTarget[]): void;
}

interface Entry {
  target: HealthTarget;
  health: HealthState;
  /** performance.now() when the current status began. */
  sinceMs: number;
  timer: NodeJS.Timeout | null;
  dueAtMs: number;
  inFlight: Promise<void> | null;
  consecutiveErrors: number;
  /** Set by passive checks: the next probe comes after fastinter, whatever the state. */
  forceFastinter: boolean;
  removed: boolean;
}

const JITTER = 0.1;

class Checker implements HealthChecker {
  readonly #reporter: HealthReporter;
  readonly #probe: Probe;
  readonly #random: () => number;
  readonly #pending = new Set<Promise<void>>();
  #entries = new Map<string, Entry>();
  #running = false;

  constructor(options: HealthCheckerOptions) {
    this.#reporter = options.reporter;
    this.#probe = options.probe ?? probeServer;
    this.#random = options.random ?? Math.random;
    this.setTargets(options.targets);
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    for (const entry of this.#entries.values()) this.#scheduleFirst(entry);
  }

  async stop(): Promise<void> {
    this.#running = false;
    for (const entry of this.#entries.values()) this.#clearTimer(entry);
    await Promise.allSettled([...this.#pending]);
  }

  async runOnce(key?: string): Promise<void> {
    if (key === undefined) {
      await Promise.all([...this.#entries.values()].map((entry) => this.#runProbe(entry)));
      return;
    }
    const entry = this.#entries.get(key);
    if (!entry) throw new Error(`no health check for ${key}`);
    await this.#runProbe(entry);
  }

  health(key: string): HealthState | undefined {
    return this.#entries.get(key)?.health;
  }

  observe(key: string, ok: boolean): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    const check = entry.target.check;
    if (check.observe === 'none') return;
    if (ok) {
      entry.consecutiveErrors = 0;
      return;
    }
    entry.consecutiveErrors += 1;
    if (entry.consecutiveErrors < check.errorLimit) return;
    const count = entry.consecutiveErrors;
    entry.consecutiveErrors = 0;
    switch (check.onError) {
      case 'mark-down': {
        const before = entry.health.status;
        const step = forceDown(entry.health, check);
        entry.health = step.state;
        if (step.changed) {
          const transition = this.#transition(entry, before, `passive: ${count} consecutive errors`, 0);
          this.#reporter.onResult(key, null, entry.health, transition);
        }
        break;
      }
      case 'fastinter':
        break;
    }
    // As HAProxy: every on-error action also brings the next check forward to fastinter.
    entry.forceFastinter = true;
    this.#bringForward(entry, this.#jitter(check.fastinterMs ?? check.intervalMs));
  }

  setTargets(targets: readonly HealthTarget[]): void {
    const keys = new Set<string>();
    for (const target of targets) {
      if (keys.has(target.key)) throw new Error(`duplicate health check target ${target.key}`);
      keys.add(target.key);
    }
    const next = new Map<string, Entry>();
    for (const target of targets) {
      const existing = this.#entries.get(target.key);
      if (existing && (existing.target.generation ?? 0) === (target.generation ?? 0)) {
        existing.target = target;
        existing.health = rescaleHealth(existing.health, target.check);
        next.set(target.key, existing);
        continue;
      }
      const entry = newEntry(target);
      next.set(target.key, entry);
      if (this.#running) this.#scheduleFirst(entry);
    }
    for (const [key, entry] of this.#entries) {
      if (next.get(key) === entry) continue;
      entry.removed = true;
      this.#clearTimer(entry);
    }
    this.#entries = next;
  }

  /** Serialises probes of one target: waits for the one in flight, then runs a new one. */
  async #runProbe(entry: Entry): Promise<void> {
    while (entry.inFlight) await entry.inFlight.catch(() => undefined);
    const probe = this.#probeAndApply(entry);
    entry.inFlight = probe;
    this.#pending.add(probe);
    try {
      await probe;
    } finally {
      if (entry.inFlight === probe) entry.inFlight = null;
      this.#pending.delete(probe);
    }
  }

  async #probeAndApply(entry: Entry): Promise<void> {
    const { server, check, dial } = entry.target;
    // This probe is the early one a passive check asked for; one asked for while it runs stays set.
    entry.forceFastinter = false;
    let result: ProbeResult;
    try {
      result = await this.#probe(server, check, dial);
    } catch (err) {
      result = { ok: false, status: null, durationMs: 0, reason: classifyUpstreamError(err).message };
    }
    if (entry.removed) return;
    const before = entry.health.status;
    const step = nextHealth(entry.health, result.ok, entry.target.check);
    entry.health = step.state;
    if (result.ok) entry.consecutiveErrors = 0;
    const transition = step.changed ? this.#transition(entry, before, result.reason, result.durationMs) : null;
    this.#reporter.onResult(entry.target.key, result, entry.health, transition);
  }

  #transition(entry: Entry, from: HealthStatus, reason: string, checkDurationMs: number): Transition {
    const now = performance.now();
    const previousStateMs = Math.round(now - entry.sinceMs);
    entry.sinceMs = now;
    return { from, to: entry.health.status, reason, checkDurationMs, previousStateMs };
  }

  /** The base interval for the entry's current state, HAProxy's srv_getinter(). */
  #intervalMs(entry: Entry): number {
    const check = entry.target.check;
    if (entry.forceFastinter || isInTransition(entry.health, check)) return check.fastinterMs ?? check.intervalMs;
    if (isFullyDown(entry.health)) return check.downinterMs ?? check.intervalMs;
    return check.intervalMs;
  }

  #jitter(ms: number): number {
    return ms * (1 - JITTER + 2 * JITTER * this.#random());
  }

  #scheduleFirst(entry: Entry): void {
    this.#schedule(entry, this.#random() * entry.target.check.intervalMs);
  }

  #schedule(entry: Entry, delayMs: number): void {
    this.#clearTimer(entry);
    entry.dueAtMs = performance.now() + delayMs;
    entry.timer = setTimeout(() => void this.#tick(entry), delayMs);
    entry.timer.unref();
  }

  /** Moves a scheduled probe earlier (never later); a probe in flight reschedules itself when done. */
  #bringForward(entry: Entry, delayMs: number): void {
    if (!this.#running || entry.removed || entry.timer === null) return;
    if (entry.dueAtMs > performance.now() + delayMs) this.#schedule(entry, delayMs);
  }

  #clearTimer(entry: Entry): void {
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.timer = null;
  }

  async #tick(entry: Entry): Promise<void> {
    // Through a method: the probe may reschedule this entry while it runs, so the check below is not a constant.
    this.#clearTimer(entry);
    try {
      await this.#runProbe(entry);
    } catch {
      // Only a throwing reporter gets here; the loop must go on regardless.
    }
    if (this.#running && !entry.removed && entry.timer === null) {
      this.#schedule(entry, this.#jitter(this.#intervalMs(entry)));
    }
  }
}

function newEntry(target: HealthTarget): Entry {
  return {
    target,
    health: initialHealth(target.check),
    sinceMs: performance.now(),
    timer: null,
    dueAtMs: 0,
    inFlight: null,
    consecutiveErrors: 0,
    forceFastinter: false,
    removed: false,
  };
}

/** Creates a stopped checker for `targets`; call start() for the loops, or runOnce() to drive it by hand. */
export function createHealthChecker(options: HealthCheckerOptions): HealthChecker {
  return new Checker(options);
}
