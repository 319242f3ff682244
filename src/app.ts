// The composition root: a backend set, a frontend set whose requests become exchanges,
// the admin listener and the observers of finished requests, built from one config;
// then listen, reload, drain and close. Primary/worker differences live in src/cluster/.
import { randomBytes } from 'node:crypto';
import { AccessObserver } from './access-log/access-observer.js';
import { AdminListener } from './admin/admin-listener.js';
import { ServerControl } from './admin/control/server-control.js';
import { loadStateFile, StateFileWriter } from './admin/control/state-file.js';
import { LbMetrics } from './admin/metrics/metrics.js';
import { BackendSet } from './backend/backend-set.js';
import type { Config, FrontendConfig } from './config/types.js';
import { createRouting, type FrontendRouting } from './exchange/routing.js';
import { ErrorPages } from './exchange/error-pages.js';
import { createRequestIds, RequestObservers } from './exchange/request-observers.js';
import { ConnectionGate } from './frontend/connection-gate.js';
import { FrontendSet, planFrontends } from './frontend/frontend-set.js';
import { FrontendStats } from './frontend/frontend-stats.js';
import { createServerHealth } from './health/server-health.js';
import type { LoadBalancer, LoadBalancerOptions } from './load-balancer.js';

export type { LoadBalancer, LoadBalancerOptions, Role } from './load-balancer.js';

/** Builds a load balancer from a validated config. Nothing is bound until listen(). */
export function createLoadBalancer(initialConfig: Config, options: LoadBalancerOptions): LoadBalancer {
  const { logger } = options;
  const role = options.role ?? { serves: true, controls: true };
  let config = initialConfig;
  let draining = false;
  let listening = false;
  const served = (c: Config) => (role.serves ? c.frontends : []);
  const stateFileOf = (c: Config) => (role.controls && c.stateFile ? new StateFileWriter(c.stateFile, logger) : null);

  let errorPages = new ErrorPages(config);
  const backends = new BackendSet(config, logger);
  const metrics = new LbMetrics(() => backends.values(), { processMetrics: options.processMetrics, haproxyCompat: config.metrics.haproxyCompat });
  for (const backend of backends.values()) metrics.addBackend(backend);
  backends.onServerChange((server, kind) => metrics.serverChanged(server, kind));
  const health = createServerHealth(backends.map, logger, { metrics, passiveSink: options.passiveSink });
  const control = new ServerControl(backends, stateFileOf(config), logger);

  const gate = new ConnectionGate(config.maxconn);
  const frontendStats = new FrontendStats(served(config));
  const access = new AccessObserver(config, { accessLogger: options.accessLogger, writeLine: options.accessLine, gate, stats: frontendStats, backends });
  const observer = new RequestObservers([health, metrics, ...(options.observers ?? [])], [access, frontendStats, metrics, ...(options.observers ?? [])]);

  /** The routing of each frontend under the config in force (its hit counts show in /api/state). */
  const routings = new Map<string, FrontendRouting>();
  function routingOf(frontend: FrontendConfig): FrontendRouting {
    const https = config.frontends.find((f) => f.tls !== null);
    const routing = createRouting(frontend, backends.map, https ? () => frontends.portOr(https.name, https.bind.port) : null);
    routings.set(frontend.name, routing);
    return routing;
  }

  // One set of ticket keys for the process's life: sessions resume across reloads.
  const ticketKeys = options.ticketKeys ?? randomBytes(48);
  const frontends = new FrontendSet(planFrontends(served(config), ticketKeys), config.timeouts, {
    logger,
    gate,
    stats: frontendStats,
    listeningLevel: role.controls ? 'info' : 'debug',
    exchange: (frontend, facts, retired, limits) => ({ frontend: facts, routing: routingOf(frontend), observer, draining: () => draining || retired(), logger, errorPages, requestLimit: limits }),
    requestId: createRequestIds(),
    events: [frontendStats, metrics],
  });
  const adminConfig = (c: Config) => (role.controls ? c.admin : null);
  const frontendView = () => frontendStats.view().map((f) => ({ ...f, routes: routings.get(f.name)?.view() ?? [] }));
  const admin = new AdminListener({ ...options, config: () => config.admin!, control, frontends: frontendView, metrics, draining: () => draining });

  async function applyConfig(next: Config): Promise<string[]> {
    // Files are read before anything changes: one that cannot be read refuses the reload.
    const plan = planFrontends(served(next), ticketKeys);
    const nextPages = new ErrorPages(next);
    const previous = config;
    config = next;
    errorPages = nextPages;
    logger.level = next.log.level;
    gate.setLimit(next.maxconn);
    access.configure(next);
    for (const key of ['workers', 'metrics'] as const) {
      if (JSON.stringify(next[key]) !== JSON.stringify(previous[key])) logger.warn({ key }, `${key} changes on restart, not on reload`);
    }
    backends.apply(next);
    for (const backend of backends.values()) metrics.addBackend(backend);
    health.update(backends.map);
    const problems = await frontends.apply(plan, next.timeouts);
    if (listening) problems.push(...(await admin.apply(adminConfig(next))));
    if (role.controls && next.stateFile !== previous.stateFile) await control.useStateFile(stateFileOf(next));
    return problems;
  }

  // Start and reloads run one at a time, in the order asked: a reload never overlaps listen().
  let queue: Promise<unknown> = Promise.resolve();
  function serialized<T>(step: () => Promise<T>): Promise<T> {
    const result = queue.then(step);
    queue = result.catch(() => undefined);
    return result;
  }

  async function close(): Promise<void> {
    draining = true;
    frontends.stopAccepting();
    frontends.closeAll();
    await health.stop();
    await backends.destroy();
    await admin.close();
  }

  return {
    get config() {
      return config;
    },
    get backends() {
      return backends.map;
    },
    metrics,
    frontendStats,
    frontendView,
    health,
    control,
    get draining() {
      return draining;
    },
    onServerChange: (listener) => backends.onServerChange(listener),
    listen: () =>
      serialized(async () => {
        if (role.controls && config.stateFile) control.restore(await loadStateFile(config.stateFile, logger));
        await frontends.listen();
        await admin.listen(adminConfig(config));
        listening = true;
        if (role.controls) health.start();
      }),
    reload: (next) => serialized(() => applyConfig(next)),
    port: (frontend) => frontends.port(frontend),
    adminPort: () => admin.port,
    drain: () => void (draining = true),
    async shutdown() {
      draining = true;
      // /healthz says 503 from now; keep serving new connections until traffic has moved away.
      if (config.timeouts.graceMs > 0) await new Promise((resolve) => setTimeout(resolve, config.timeouts.graceMs));
      frontends.stopAccepting();
      frontends.closeIdle();
      await observer.idle(config.timeouts.shutdownMs);
      await close();
    },
    close,
  };
}
