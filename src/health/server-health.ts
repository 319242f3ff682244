// Joins the health checker to the live servers: every probe result and transition
// is applied to its UpstreamServer, logged (transitions only) and counted; live
// traffic feeds the passive checks.
import type { Logger } from 'pino';
import type { LbMetrics } from '../admin/metrics.js';
import type { Backend } from '../backend/backend.js';
import type { UpstreamServer } from '../backend/server.js';
import type { AccessRecord } from '../proxy/access-record.js';
import type { TransactionObserver } from '../proxy/transaction.js';
import type { ClassifiedError } from '../proxy/upstream-error.js';
import { createHealthChecker, type HealthChecker, type HealthReporter, type HealthTarget } from './checker.js';
import { describeHealth, initialHealth } from './state.js';

/** The key the checker knows a server by. */
export function serverKey(backend: string, server: string): string {
  return `${backend}/${server}`;
}

/** The checker and the traffic observer feeding its passive checks. */
export interface ServerHealth {
  readonly checker: HealthChecker;
  /** Feeds passive checks and per-server request/error counts. */
  readonly observer: TransactionObserver;
  start(): void;
  stop(): Promise<void>;
  /** After a reload: checks follow the new servers; kept servers keep their health. */
  update(backends: ReadonlyMap<string, Backend>): void;
}

/** The prefix of a probe's reason when TLS verification or the handshake failed (`tls: pin mismatch`). */
const TLS_REASON = 'tls:';

/** Connection-level failures: what `observe: layer4` counts. */
const LAYER4_FAILURES = new Set<ClassifiedError['kind']>(['connect', 'connect-timeout', 'tls', 'closed']);

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
        connector: server.connector,
        generation: server.endpointGeneration,
      });
    }
  }
  return targets;
}

/** Builds the health machinery for `backends`; nothing runs until start(). */
export interface ServerHealthOptions {
  readonly metrics?: LbMetrics;
  /** Called after each UP/DOWN transition has been applied (workers are told). */
  readonly onTransition?: (server: UpstreamServer) => void;
  /**
   * Where passive-check outcomes go instead of the local checker: a worker process
   * sends them to the primary, which runs the checks.
   */
  readonly passiveSink?: (key: string, ok: boolean) => void;
}

export function createServerHealth(backends: ReadonlyMap<string, Backend>, logger: Logger, options: ServerHealthOptions = {}): ServerHealth {
  const { metrics } = options;
  const byKey = new Map<string, { backend: Backend; server: UpstreamServer }>();
  const index = (all: ReadonlyMap<string, Backend>) => {
    byKey.clear();
    for (const backend of all.values()) {
      for (const server of backend.servers) {
        byKey.set(serverKey(backend.name, server.name), { backend, server });
        // The page's "going down 1/3" needs the counter from the start; no check, no counter.
        if (!backend.config.check) server.healthCounter = null;
        else if (server.healthCounter === null) server.healthCounter = initialHealth(backend.config.check).counter;
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
        server.lastCheck = { ok: result.ok, code: result.status, durationMs: result.durationMs, reason: result.reason, at: Date.now() };
        metrics?.checkDone(backend.name, server.name, result.ok, result.durationMs);
        // A certificate refused by a probe is a TLS failure like one refused to live traffic.
        if (!result.ok && result.reason.startsWith(TLS_REASON)) metrics?.upstreamTlsError(backend.name, server.name);
      }
      server.healthDescription = describeHealth(health, check);
      server.healthCounter = health.counter;
      if (!transition) return;
      server.healthy = transition.to === 'UP';
      server.lastChangeAt = Date.now();
      // A server that went down keeps no idle connection; those in flight finish.
      if (!server.healthy) server.recyclePool();
      backend.serverChanged(server);
      options.onTransition?.(server);
      metrics?.transition(backend.name, server.name, transition.to);
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

  const observer: TransactionObserver = {
    attemptDone(server, failure, status) {
      // `requests`: answered by the server (a 5xx included); `errors`: failed attempts and 5xx answers.
      const failed = failure !== null || status >= 500;
      if (failure === null) server.requests += 1;
      if (failed) server.errors += 1;
      const key = serverKey(server.backendName, server.name);
      const entry = byKey.get(key);
      const observe = entry?.backend.config.check?.observe ?? 'none';
      if (observe === 'none') return;
      const ok = observe === 'layer4' ? !(failure && LAYER4_FAILURES.has(failure.kind)) : !failed;
      if (options.passiveSink) options.passiveSink(key, ok);
      else checker.observe(key, ok);
    },
    requestDone(_record: AccessRecord) {},
  };

  return {
    checker,
    observer,
    start: () => checker.start(),
    stop: () => checker.stop(),
    update(next) {
      index(next);
      checker.setTargets(targetsOf(next.values()));
      for (const backend of next.values()) {
        if (backend.config.check) continue;
        // Checks removed from a backend: nothing can hold its servers DOWN any more.
        for (const server of backend.servers) {
          if (server.healthy) continue;
          server.healthy = true;
          server.healthDescription = 'UP';
          server.lastChangeAt = Date.now();
          backend.serverChanged(server);
        }
      }
    },
  };
}
