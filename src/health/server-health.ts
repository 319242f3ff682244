// Joins the health checker to the live servers: every probe result and transition
// is applied to its UpstreamServer, logged (transitions only) and counted; live
// traffic feeds the passive checks.
import type { Logger } from 'pino';
import type { Backend } from '../backend/backend.js';
import type { UpstreamServer } from '../backend/server.js';
import type { UpstreamError, UpstreamErrorCode } from '../errors.js';
import { createHealthChecker, type HealthChecker, type HealthReporter, type HealthTarget } from './checker.js';
import { describeHealth, initialHealth } from './state.js';

/** The key the checker knows a server by. */
export function serverKey(backend: string, server: string): string {
  return `${backend}/${server}`;
}

/** What health reports besides logs and the server's own change event: the metrics implement it. */
export interface HealthEvents {
  checkDone(backend: string, server: string, ok: boolean, durationMs: number): void;
  upstreamTlsError(backend: string, server: string): void;
}

/** The checker and the traffic observer feeding its passive checks. */
export interface ServerHealth {
  readonly checker: HealthChecker;
  /** Live traffic: a finished attempt on a server (null failure when it answered). Feeds passive checks and per-server counts. */
  attemptDone(server: UpstreamServer, failure: UpstreamError | null, status: number): void;
  start(): void;
  stop(): Promise<void>;
  /** After a reload: checks follow the new servers; kept servers keep their health. */
  update(backends: ReadonlyMap<string, Backend>): void;
}

/** The prefix of a probe's reason when TLS verification or the handshake failed (`tls: pin mismatch`). */
const TLS_REASON = 'tls:';

/** Connection-level failures: what `observe: layer4` counts. */
const LAYER4_FAILURES = new Set<UpstreamErrorCode>([
  'LB_ERR_CONNECT',
  'LB_ERR_CONNECT_TIMEOUT',
  'LB_ERR_UPSTREAM_TLS',
  'LB_ERR_UPSTREAM_CLOSED',
]);

function targetsOf(backends: Iterable<Backend>): HealthTarget[] {
  const targets: HealthTarget[] = [];
  for (const backend of backends) {
    const check = backend.config.check;
    if (!check) continue;
    for (const server of backend.servers) {
      targets.push({
        key: serverKey(backend.name, server.name),
        server: server.config,
        check,
        dial: server.dial,
        generation: server.endpointGeneration,
      });
    }
  }
  return targets;
}

/** Builds the health machinery for `backends`; nothing runs until start(). */
export interface ServerHealthOptions {
  readonly metrics?: HealthEvents;
  /**
   * Where passive-check outcomes go instead of the local checker: a worker process
   * sends them to the primary, which runs the checks.
   */
  readonly passiveSink?: (key: string, ok: boolean) => void;
}

export function createServerHealth(
  backends: ReadonlyMap<string, Backend>,
  logger: Logger,
  options: ServerHealthOptions = {},
): ServerHealth {
  const { metrics } = options;
  const byKey = new Map<string, { backend: Backend; server: UpstreamServer }>();
  const index = (all: ReadonlyMap<string, Backend>) => {
    byKey.clear();
    for (const backend of all.values()) {
      for (const server of backend.servers) {
        byKey.set(serverKey(backend.name, server.name), { backend, server });
        // The page's "going down 1/3" needs the counter from the start; no check, no counter.
        if (!backend.config.check) server.resetHealthCounter(null);
        else if (server.healthCounter === null) server.resetHealthCounter(initialHealth(backend.config.check).counter);
      }
    }
  };
  index(backends);

  const reporter: HealthReporter = {
    onResult(key, result, health, transition) {
      const entry = byKey.get(key);
      if (!entry) return;
      const { backend, server } = entry;
      const check = backend.config.check!;
      if (result) {
        metrics?.checkDone(backend.name, server.name, result.ok, result.durationMs);
        // A certificate refused by a probe is a TLS failure like one refused to live traffic.
        if (!result.ok && result.reason.startsWith(TLS_REASON)) metrics?.upstreamTlsError(backend.name, server.name);
      }
      const description = describeHealth(health, check);
      const lastCheck = result && {
        ok: result.ok,
        code: result.status,
        durationMs: result.durationMs,
        reason: result.reason,
        at: Date.now(),
      };
      server.recordCheck(lastCheck, description, health.counter);
      if (!transition) return;
      server.markHealth(transition.to === 'UP', description);
      logger.warn(
        {
          backend: backend.name,
          server: server.name,
          from: transition.from,
          to: transition.to,
          reason: transition.reason,
          checkDurationMs: transition.checkDurationMs,
          previousStateMs: Math.round(transition.previousStateMs),
        },
        `server ${backend.name}/${server.name} is ${transition.to}`,
      );
    },
  };

  const checker = createHealthChecker({ targets: targetsOf(backends.values()), reporter });

  function attemptDone(server: UpstreamServer, failure: UpstreamError | null, status: number): void {
    // `requests`: answered by the server (a 5xx included); `errors`: failed attempts and 5xx answers.
    const failed = failure !== null || status >= 500;
    server.countAttempt(failure === null, failed);
    const key = serverKey(server.backendName, server.name);
    const entry = byKey.get(key);
    const observe = entry?.backend.config.check?.observe ?? 'none';
    if (observe === 'none') return;
    const ok = observe === 'layer4' ? !(failure && LAYER4_FAILURES.has(failure.code)) : !failed;
    if (options.passiveSink) options.passiveSink(key, ok);
    else checker.observe(key, ok);
  }

  return {
    checker,
    attemptDone,
    start: () => checker.start(),
    stop: () => checker.stop(),
    update(next) {
      index(next);
      checker.setTargets(targetsOf(next.values()));
      for (const backend of next.values()) {
        if (backend.config.check) continue;
        // Checks removed from a backend: nothing can hold its servers DOWN any more.
        for (const server of backend.servers) server.markHealth(true);
      }
    },
  };
}
