// The composition root: builds backends, frontends and their listeners from a
// config, and owns their lifecycle (listen, reload, graceful shutdown, close).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type http from 'node:http';
import type { Logger } from 'pino';
import { createAdminServer, type ReloadHook } from './admin/admin-server.js';
import { LbMetrics } from './admin/metrics.js';
import { ServerControl } from './admin/server-control.js';
import { loadStateFile, StateFileWriter } from './admin/state-file.js';
import { createServerHealth, type ServerHealth } from './health/server-health.js';
import { reconcileBackends } from './backend/reconcile.js';
import type { Backend } from './backend/backend.js';
import type { UpstreamServer } from './backend/server.js';
import type { Config, FrontendConfig } from './config/types.js';
import { ConnectionGate } from './frontend/connection-gate.js';
import { FrontendStats } from './frontend/frontend-stats.js';
import { createListener, type Listener, type ListenerHandlers } from './frontend/listener.js';
import { createAccessLog } from './proxy/access-log.js';
import type { AccessRecord } from './proxy/access-record.js';
import { createRequestHandler, type FrontendRoute } from './proxy/handler.js';
import { createUpgradeHandler } from './proxy/websocket.js';
import type { FrontendFacts, TransactionObserver } from './proxy/transaction.js';
import { createFrontendTls, type FrontendTls } from './tls/frontend.js';

/** A running (or ready to run) Doorman. */
export interface LoadBalancer {
  /** The config in force: the latest one a reload applied. */
  readonly config: Config;
  readonly backends: ReadonlyMap<string, Backend>;
  /** Binds every frontend and logs one `listening` line each. */
  listen(): Promise<void>;
  /**
   * Swaps in a validated config: unchanged binds keep their sockets, certificates are
   * re-read, kept servers keep health and operator state, removed ones drain. Resolves
   * with the problems met while applying it (a frontend that could not bind), else [].
   */
  reload(config: Config): Promise<string[]>;
  /** The port each frontend is bound to (after listen). */
  port(frontend: string): number;
  /** The admin listener's port (after listen), undefined without admin. */
  adminPort(): number | undefined;
  readonly metrics: LbMetrics;
  /** Live counts per frontend (/api/state). */
  readonly frontendStats: FrontendStats;
  readonly health: ServerHealth;
  readonly control: ServerControl;
  /** True from the start of a graceful shutdown. */
  readonly draining: boolean;
  /** Turns /healthz to 503 and closes keep-alive answers, closing nothing yet (the primary while its workers drain). */
  drain(): void;
  /** Stops accepting, lets requests in flight finish (up to timeouts.shutdown), closes everything. */
  shutdown(): Promise<void>;
  /** Closes everything at once. */
  close(): Promise<void>;
}

export interface LoadBalancerOptions {
  readonly logger: Logger;
  /** Where access lines go (default: `logger`). */
  readonly accessLogger?: Logger;
  /**
   * Writes one raw text line (HAProxy httplog access lines) to the same destination as
   * `accessLogger`; the CLI passes createLogger's writeLine. Default: the line is the
   * `msg` of a JSON line.
   */
  readonly accessLine?: (line: string) => void;
  /** Extra observers of finished requests and attempts. */
  readonly observers?: readonly TransactionObserver[];
  /** prom-client's process metrics (default true; tests running several balancers turn them off). */
  readonly processMetrics?: boolean;
  /** What `POST /api/reload` runs: re-reads the config file. */
  readonly reload?: ReloadHook;
  /**
   * `all`: one process does everything. With workers, the primary is `control` (admin
   * API, health checks, state file; no frontend) and each worker is `traffic`
   * (frontends only; health and operator state arrive from the primary).
   */
  readonly role?: 'all' | 'control' | 'traffic';
  /** TLS session ticket keys; workers share the primary's so sessions resume on any of them. */
  readonly ticketKeys?: Buffer;
  /** Traffic role: where passive-check outcomes go (to the primary). */
  readonly passiveSink?: (key: string, ok: boolean) => void;
  /** Control role: a server's health or operator state changed (tell the workers). */
  readonly onServerChange?: (server: UpstreamServer) => void;
  /** Control role: what /api/state and /metrics answer (sums over the workers). */
  readonly stateView?: () => Promise<unknown>;
  readonly metricsText?: () => Promise<string>;
}

/** A frontend at runtime: its listener and the facts its requests carry. */
interface RunningFrontend {
  readonly listener: Listener;
  /** What its requests carry; `port` is filled in once bound. */
  facts: { -readonly [K in keyof FrontendFacts]: FrontendFacts[K] };
  bound: boolean;
  /** Set when a reload removed the frontend: answers close their connection. */
  retired: boolean;
}

/** Two binds are the same socket. Port 0 stays "the same" across a reload: the operator did not change it. */
function bindKey(frontend: FrontendConfig): string {
  return `${frontend.bind.host}|${frontend.bind.port}|${frontend.tls ? 'tls' : 'plain'}`;
}

/** HAProxy's beconn (requests the backend holds, in flight or queued) and srv_conn, for the httplog line. */
function backendCounts(backend: Backend | undefined, serverName: string): { beconn: number; srvConn: number } {
  if (!backend) return { beconn: 0, srvConn: 0 };
  let beconn = backend.queued;
  let srvConn = 0;
  for (const server of backend.servers) {
    beconn += server.active;
    if (server.name === serverName) srvConn = server.active;
  }
  return { beconn, srvConn };
}

/** Builds a load balancer from a validated config. Nothing is bound until listen(). */
export function createLoadBalancer(initialConfig: Config, options: LoadBalancerOptions): LoadBalancer {
  const { logger } = options;
  const role = options.role ?? 'all';
  const serves = role !== 'control';
  const controls = role !== 'traffic';
  const accessLogger = options.accessLogger ?? logger;
  let config = initialConfig;
  let backends = reconcileBackends(new Map(), config).backends;

  const metrics = new LbMetrics(() => backends.values(), {
    processMetrics: options.processMetrics,
    haproxyCompat: config.metrics.haproxyCompat,
  });
  for (const backend of backends.values()) metrics.addBackend(backend);
  const health = createServerHealth(backends, logger, { metrics, onTransition: options.onServerChange, passiveSink: options.passiveSink });
  const stateFile = () => (controls ? config.stateFile : null);
  const control = new ServerControl(() => backends, stateFile() ? new StateFileWriter(stateFile()!, logger) : null, logger);
  control.onChange = options.onServerChange;

  let draining = false;
  let listening = false;
  let inFlight = 0;
  let idleWaiter: (() => void) | undefined;
  const gate = new ConnectionGate(config.maxconn);
  /** Live counts per frontend: /api/state, the stats page and HAProxy's feconn. */
  const frontendStats = new FrontendStats(serves ? config.frontends : []);

  /** The access-line writer for a config (a reload may change log.access and log.format). */
  function accessLogFor(current: Config) {
    if (!current.log.access) return null;
    const tlsFrontends = new Set(current.frontends.filter((f) => f.tls !== null).map((f) => f.name));
    return createAccessLog({
      format: current.log.format,
      accessLogger,
      writeLine: options.accessLine ?? ((line) => accessLogger.info(line)),
      context: (record) => ({
        tls: tlsFrontends.has(record.frontend),
        actconn: gate.open,
        feconn: frontendStats.connections(record.frontend),
        ...backendCounts(backends.get(record.backend), record.server),
      }),
    });
  }
  let writeAccessLine = accessLogFor(config);
  const extraObservers = [metrics, health.observer, ...(options.observers ?? [])];

  const observer: TransactionObserver = {
    attemptDone(server, failure, status) {
      for (const o of extraObservers) o.attemptDone(server, failure, status);
    },
    requestDone(record: AccessRecord) {
      inFlight -= 1;
      if (inFlight === 0) idleWaiter?.();
      writeAccessLine?.(record);
      frontendStats.requestDone(record);
      for (const o of extraObservers) o.requestDone(record);
    },
  };

  // One set of ticket keys for the process's life: sessions resume across reloads.
  const ticketKeys = options.ticketKeys ?? randomBytes(48);
  const idPrefix = `${process.pid.toString(36)}-`;
  /** Frontends by name; a reload replaces the map, retired ones move to `retiring`. */
  let frontends = new Map<string, RunningFrontend>();
  const retiring = new Set<RunningFrontend>();

  function routeOf(frontend: FrontendConfig): FrontendRoute {
    if (frontend.redirect === 'https') {
      const target = config.frontends.find((f) => f.tls !== null)!;
      return { kind: 'redirect', httpsPort: () => Number(frontends.get(target.name)?.facts.port ?? target.bind.port) };
    }
    return { kind: 'backend', backend: backends.get(frontend.backend!)! };
  }

  /** The request and upgrade handlers of a frontend under the current config. */
  function handlersFor(frontend: FrontendConfig, running: () => RunningFrontend): ListenerHandlers {
    const route = routeOf(frontend);
    const isDraining = () => draining || running().retired;
    const facts = running().facts;
    const handleRequest = createRequestHandler({
      frontend: facts,
      route,
      serverTimeoutMs: config.timeouts.serverMs,
      clientTimeoutMs: config.timeouts.clientMs,
      observer,
      draining: isDraining,
      idPrefix,
      logger,
    });
    const handleUpgrade = createUpgradeHandler({ frontend: facts, route, clientTimeoutMs: config.timeouts.clientMs, logger, observer, idPrefix });
    return {
      request(req: IncomingMessage, res: ServerResponse) {
        inFlight += 1;
        handleRequest(req, res);
      },
      upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
        inFlight += 1;
        handleUpgrade(req, socket, head);
      },
      connections: (delta) => {
        frontendStats.connection(frontend.name, delta);
        metrics.frontendConnection(frontend.name, delta);
      },
      tlsError: () => metrics.tlsHandshakeError(frontend.name),
      clientError: () => metrics.requestError(frontend.name),
    };
  }

  function factsOf(frontend: FrontendConfig, port: number): FrontendFacts {
    return { name: frontend.name, proto: frontend.tls ? 'https' : 'http', port: String(port) };
  }

  /**
   * Reads the certificates of `next`'s frontends (throwing before anything changes if
   * one cannot be read) and finds which running frontends keep their socket: a bound
   * one with the same bind.
   */
  function planFrontends(next: Config): { kept: Map<string, { running: RunningFrontend; tls: FrontendTls | null }>; tls: Map<string, FrontendTls | null> } {
    const wanted = serves ? next.frontends : [];
    const tls = new Map<string, FrontendTls | null>();
    for (const frontend of wanted) tls.set(frontend.name, frontend.tls ? createFrontendTls(frontend.tls, ticketKeys) : null);
    const byBind = new Map<string, RunningFrontend>();
    // One that failed to bind is not kept: the reload tries it again.
    for (const running of frontends.values()) if (running.bound || !listening) byBind.set(bindKey(running.listener.config), running);
    const kept = new Map<string, { running: RunningFrontend; tls: FrontendTls | null }>();
    for (const frontend of wanted) {
      const running = byBind.get(bindKey(frontend));
      if (!running) continue;
      byBind.delete(bindKey(frontend));
      kept.set(frontend.name, { running, tls: tls.get(frontend.name)! });
    }
    return { kept, tls };
  }

  function startFrontend(frontend: FrontendConfig, tls: FrontendTls | null): RunningFrontend {
    const running = { facts: factsOf(frontend, frontend.bind.port), bound: false, retired: false } as RunningFrontend;
    (running as { listener: Listener }).listener = createListener(frontend, tls, config.timeouts, handlersFor(frontend, () => running), logger, gate);
    metrics.addFrontend(frontend.name);
    return running;
  }

  async function bind(running: RunningFrontend): Promise<void> {
    const { listener } = running;
    const port = await listener.listen();
    // X-Forwarded-Port is the real port, known now.
    running.facts.port = String(port);
    running.bound = true;
    frontendStats.listening(listener.config.name, port);
    // A worker's line would repeat per worker: the primary logs the one operators read.
    logger[role === 'traffic' ? 'debug' : 'info'](
      { frontend: listener.config.name, address: listener.config.bind.host, port, tls: listener.config.tls !== null },
      'listening',
    );
  }

  /** Stops a removed frontend: no new connection, idle ones closed, the rest after timeouts.shutdown. */
  function retire(running: RunningFrontend): void {
    running.retired = true;
    retiring.add(running);
    const { listener } = running;
    listener.stopAccepting();
    listener.server.closeIdleConnections();
    const timer = setTimeout(() => {
      listener.server.closeAllConnections();
      retiring.delete(running);
    }, config.timeouts.shutdownMs);
    timer.unref();
    logger.info({ frontend: listener.config.name }, 'frontend removed: draining');
  }

  for (const frontend of serves ? config.frontends : []) {
    frontends.set(frontend.name, startFrontend(frontend, frontend.tls ? createFrontendTls(frontend.tls, ticketKeys) : null));
  }

  // ---- admin listener -------------------------------------------------------

  let admin: http.Server | null = null;
  function createAdmin(): http.Server {
    const { reload, stateView, metricsText } = options;
    return createAdminServer({
      config: () => config.admin!,
      control,
      frontends: () => frontendStats.view(),
      metrics,
      draining: () => draining,
      reload,
      stateView,
      metricsText,
      logger,
    });
  }

  async function listenAdmin(): Promise<void> {
    if (!config.admin || !controls) return;
    const server = createAdmin();
    const { host, port } = config.admin.bind;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    admin = server;
    logger.info({ admin: true, address: host, port: adminPort() }, 'admin listening');
  }

  function adminPort(): number | undefined {
    const address = admin?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  async function closeAdmin(): Promise<void> {
    const server = admin;
    admin = null;
    if (!server?.listening) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** An admin listener a reload moved: no new connection; the open ones finish, idle ones close. */
  function retireAdmin(server: http.Server): void {
    server.close();
    server.closeIdleConnections();
    // A keep-alive client (the one that asked for the reload) gets its answer, then goes.
    setTimeout(() => server.closeAllConnections(), 2_000).unref();
  }

  async function closeServers(): Promise<void> {
    await health.stop();
    const all = new Set([...backends.values()].flatMap((b) => b.servers));
    await Promise.all([...all].map((s) => s.destroy()));
  }

  function allListeners(): Listener[] {
    return [...frontends.values(), ...retiring].map((f) => f.listener);
  }

  // ---- reload ----------------------------------------------------------------

  let reloading: Promise<unknown> = Promise.resolve();
  /** Start and reloads run one at a time, in the order asked: a reload never overlaps listen(). */
  function serialized<T>(step: () => Promise<T>): Promise<T> {
    const result = reloading.then(step);
    reloading = result.catch(() => undefined);
    return result;
  }

  async function applyConfig(next: Config): Promise<string[]> {
    const plan = planFrontends(next);
    const previous = config;
    config = next;
    logger.level = next.log.level;
    gate.setLimit(next.maxconn);
    writeAccessLine = accessLogFor(next);
    for (const key of ['workers', 'metrics'] as const) {
      if (JSON.stringify(next[key]) !== JSON.stringify(previous[key])) logger.warn({ key }, `${key} changes on restart, not on reload`);
    }

    const reconciled = reconcileBackends(backends, next);
    backends = reconciled.backends;
    for (const backend of backends.values()) metrics.addBackend(backend);
    health.update(backends);
    for (const server of reconciled.retired) {
      server.close().catch(() => {});
      logger.info({ backend: server.backendName, server: server.name }, 'server removed: draining');
    }

    // Frontends: kept binds in place, removed ones drain, new ones bind.
    const problems: string[] = [];
    const nextFrontends = new Map<string, RunningFrontend>();
    const keptRunning = new Set([...plan.kept.values()].map((k) => k.running));
    for (const running of frontends.values()) if (!keptRunning.has(running)) retire(running);
    for (const frontend of serves ? next.frontends : []) {
      const kept = plan.kept.get(frontend.name);
      if (kept) {
        const { running } = kept;
        running.facts = factsOf(frontend, Number(running.facts.port));
        running.listener.update(frontend, kept.tls, next.timeouts, handlersFor(frontend, () => running));
        nextFrontends.set(frontend.name, running);
        continue;
      }
      const running = startFrontend(frontend, plan.tls.get(frontend.name)!);
      nextFrontends.set(frontend.name, running);
      if (!listening) continue;
      try {
        await bind(running);
      } catch (err) {
        problems.push(`frontends.${next.frontends.indexOf(frontend)}.bind: cannot listen on ${frontend.bind.host}:${frontend.bind.port}: ${(err as Error).message}`);
      }
    }
    frontends = nextFrontends;
    frontendStats.setConfigs(serves ? next.frontends : []);
    for (const running of frontends.values()) if (running.bound) frontendStats.listening(running.listener.config.name, Number(running.facts.port));

    // Admin: a new token applies at once (read per request); a new bind opens a new
    // listener, and the old one closes once its requests (this reload's own) are answered.
    if (listening && JSON.stringify(next.admin?.bind ?? null) !== JSON.stringify(previous.admin?.bind ?? null)) {
      const old = admin;
      admin = null;
      try {
        await listenAdmin();
      } catch (err) {
        problems.push(`admin.bind: cannot listen: ${(err as Error).message}`);
      }
      if (old) retireAdmin(old);
    }
    if (controls && next.stateFile !== previous.stateFile) {
      control.writer = next.stateFile ? new StateFileWriter(next.stateFile, logger) : null;
      await control.save();
    }
    return problems;
  }

  return {
    get config() {
      return config;
    },
    get backends() {
      return backends;
    },
    metrics,
    frontendStats,
    health,
    control,
    get draining() {
      return draining;
    },
    drain() {
      draining = true;
    },
    listen() {
      return serialized(async () => {
        if (stateFile()) control.restore(await loadStateFile(stateFile()!, logger));
        for (const running of frontends.values()) await bind(running);
        await listenAdmin();
        listening = true;
        if (controls) health.start();
      });
    },
    reload(next) {
      return serialized(() => applyConfig(next));
    },
    adminPort,
    port(frontend) {
      const running = frontends.get(frontend);
      if (!running?.bound) throw new Error(`frontend ${frontend} is not listening`);
      return Number(running.facts.port);
    },
    async shutdown() {
      draining = true;
      // /healthz says 503 from now; keep serving new connections until traffic has moved away.
      if (config.timeouts.graceMs > 0) await new Promise((resolve) => setTimeout(resolve, config.timeouts.graceMs));
      gate.dropWaiting();
      for (const listener of allListeners()) {
        listener.stopAccepting();
        listener.server.closeIdleConnections();
      }
      if (inFlight > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, config.timeouts.shutdownMs);
          idleWaiter = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
      for (const { server } of allListeners()) server.closeAllConnections();
      await closeServers();
      await closeAdmin();
    },
    async close() {
      draining = true;
      gate.dropWaiting();
      for (const listener of allListeners()) {
        listener.stopAccepting();
        listener.server.closeAllConnections();
      }
      await closeServers();
      await closeAdmin();
    },
  };
}
