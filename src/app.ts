// The composition root: a backend set, a frontend set whose requests become exchanges,
// the admin listener and the observers of finished requests, built from one config;
// then listen, reload, drain and close. Primary/worker differences live in src/cluster/.
import { randomBytes } from 'node:crypto';
import { ExpiryWatch } from './acme/expiry-watch.js';
import { certificateViews, readFileCertificates } from './acme/inventory.js';
import { AcmeManager } from './acme/manager.js';
import { AcmeServingState } from './acme/serving-state.js';
import type { PemPair } from './tls/self-signed.js';
import { selfSignedCertificate } from './tls/self-signed.js';
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
  const metrics = new LbMetrics(() => backends.values(), {
    processMetrics: options.processMetrics,
    haproxyCompat: config.metrics.haproxyCompat,
  });
  for (const backend of backends.values()) metrics.addBackend(backend);
  backends.onServerChange((server, kind) => metrics.serverChanged(server, kind));
  const health = createServerHealth(backends.map, logger, { metrics, passiveSink: options.passiveSink });
  const control = new ServerControl(backends, stateFileOf(config), logger);

  const gate = new ConnectionGate(config.maxconn);
  const frontendStats = new FrontendStats(served(config));
  const access = new AccessObserver(config, {
    accessLogger: options.accessLogger,
    writeLine: options.accessLine,
    gate,
    stats: frontendStats,
    backends,
  });
  const observer = new RequestObservers(
    [health, metrics, ...(options.observers ?? [])],
    [access, frontendStats, metrics, ...(options.observers ?? [])],
  );

  // ACME: what this process serves (certificates, challenge answers), and in the controlling
  // process the manager that orders them, the certificate list and the expiry warning.
  const acmeState = new AcmeServingState();
  const placeholders = new Map<string, PemPair>();
  const certificateSources = {
    dynamic: acmeState,
    placeholder(names: readonly string[]): PemPair {
      const key = names.join(',');
      let pair = placeholders.get(key);
      if (!pair) placeholders.set(key, (pair = selfSignedCertificate(names)));
      return pair;
    },
  };
  const acme = role.controls
    ? new AcmeManager({
        logger,
        publish: async (update) => {
          acmeState.apply(update);
          await options.acmePublish?.(update);
        },
        renewal: (result) => metrics.acmeRenewal(result),
      })
    : null;
  let fileCertificates = role.controls ? readFileCertificates(config) : [];
  const certificates = () => (role.controls ? certificateViews(config, fileCertificates, acme?.view() ?? []) : []);
  metrics.watchCertificates(certificates);
  const expiryWatch = role.controls ? new ExpiryWatch(logger, certificates) : null;

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
  const frontends = new FrontendSet(planFrontends(served(config), ticketKeys, certificateSources), config.timeouts, {
    logger,
    gate,
    stats: frontendStats,
    listeningLevel: role.controls ? 'info' : 'debug',
    exchange: (frontend, facts, retired, limits) => ({
      frontend: facts,
      routing: routingOf(frontend),
      observer,
      draining: () => draining || retired(),
      logger,
      errorPages,
      requestLimit: limits,
      acmeHttp01: frontend.tls === null ? (token: string) => acmeState.httpAnswer(token) : undefined,
    }),
    requestId: createRequestIds(),
    events: [frontendStats, metrics],
  });
  const adminConfig = (c: Config) => (role.controls ? c.admin : null);
  const frontendView = () => frontendStats.view().map((f) => ({ ...f, routes: routings.get(f.name)?.view() ?? [] }));
  const admin = new AdminListener({
    ...options,
    config: () => config.admin!,
    control,
    frontends: frontendView,
    metrics,
    draining: () => draining,
    certificates,
  });

  async function applyConfig(next: Config): Promise<string[]> {
    // Files are read before anything changes: one that cannot be read refuses the reload.
    const plan = planFrontends(served(next), ticketKeys, certificateSources);
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
    if (role.controls) fileCertificates = readFileCertificates(next);
    // Names kept keep their certificates, timers and orders in flight.
    if (acmeStarted) acme?.apply(next);
    expiryWatch?.check();
    return problems;
  }

  // Start and reloads run one at a time, in the order asked: a reload never overlaps listen().
  let queue: Promise<unknown> = Promise.resolve();
  function serialized<T>(step: () => Promise<T>): Promise<T> {
    const result = queue.then(step);
    queue = result.catch(() => undefined);
    return result;
  }

  /** Orders start once the frontends can answer their challenges. */
  let acmeStarted = false;
  function startAcme(): void {
    if (acmeStarted || draining) return;
    acmeStarted = true;
    acme?.apply(config);
  }

  async function close(): Promise<void> {
    draining = true;
    acme?.stop();
    expiryWatch?.stop();
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
    acme: acmeState,
    certificates,
    startAcme,
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
        expiryWatch?.start();
        if (role.serves) startAcme();
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
