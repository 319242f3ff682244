// The composition root: builds backends, frontends and their listeners from a
// config, and owns their lifecycle (listen, graceful shutdown, close).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type http from 'node:http';
import type { Logger } from 'pino';
import { createAdminServer } from './admin/admin-server.js';
import { LbMetrics } from './admin/metrics.js';
import { ServerControl } from './admin/server-control.js';
import { loadStateFile, StateFileWriter } from './admin/state-file.js';
import { createServerHealth, type ServerHealth } from './health/server-health.js';
import { Backend } from './backend/backend.js';
import { UpstreamServer } from './backend/server.js';
import type { Config, FrontendConfig } from './config/types.js';
import { ConnectionGate } from './frontend/connection-gate.js';
import { FrontendStats } from './frontend/frontend-stats.js';
import { createListener, type Listener } from './frontend/listener.js';
import type { AccessRecord } from './proxy/access-record.js';
import { createRequestHandler, type FrontendRoute } from './proxy/handler.js';
import { createUpgradeHandler } from './proxy/websocket.js';
import type { TransactionObserver } from './proxy/transaction.js';
import { createFrontendTls } from './tls/frontend.js';

/** A running (or ready to run) Doorman. */
export interface LoadBalancer {
  readonly config: Config;
  readonly backends: ReadonlyMap<string, Backend>;
  /** Binds every frontend and logs one `listening` line each. */
  listen(): Promise<void>;
  /** The port each frontend is bound to (after listen). */
  port(frontend: string): number;
  /** The admin listener's port (after listen), undefined without admin. */
  adminPort(): number | undefined;
  readonly metrics: LbMetrics;
  readonly health: ServerHealth;
  readonly control: ServerControl;
  /** True from the start of a graceful shutdown. */
  readonly draining: boolean;
  /** Stops accepting, lets requests in flight finish (up to timeouts.shutdown), closes everything. */
  shutdown(): Promise<void>;
  /** Closes everything at once. */
  close(): Promise<void>;
}

export interface LoadBalancerOptions {
  readonly logger: Logger;
  /** Where access lines go (default: `logger`). */
  readonly accessLogger?: Logger;
  /** Extra observers of finished requests and attempts. */
  readonly observers?: readonly TransactionObserver[];
  /** prom-client's process metrics (default true; tests running several balancers turn them off). */
  readonly processMetrics?: boolean;
}

/** Builds a load balancer from a validated config. Nothing is bound until listen(). */
export function createLoadBalancer(config: Config, options: LoadBalancerOptions): LoadBalancer {
  const { logger } = options;
  const accessLogger = options.accessLogger ?? logger;
  const backends = new Map<string, Backend>();
  for (const backendConfig of config.backends) {
    const servers = backendConfig.servers.map((s, i) => new UpstreamServer(backendConfig.name, s, i, config.timeouts));
    backends.set(backendConfig.name, new Backend(backendConfig, servers, config.timeouts));
  }

  const metrics = new LbMetrics(() => backends.values(), { processMetrics: options.processMetrics });
  for (const backend of backends.values()) metrics.addBackend(backend);
  const health = createServerHealth(backends, logger, metrics);
  const stateWriter = config.stateFile ? new StateFileWriter(config.stateFile, logger) : null;
  const control = new ServerControl(() => backends, stateWriter, logger);

  let draining = false;
  let inFlight = 0;
  let idleWaiter: (() => void) | undefined;
  const ports = new Map<string, number>();
  const accessLog = config.log.access;
  const frontendStats = new FrontendStats(config.frontends);
  const extraObservers = [metrics, health.observer, ...(options.observers ?? [])];

  const observer: TransactionObserver = {
    attemptDone(server, failure, status) {
      for (const o of extraObservers) o.attemptDone(server, failure, status);
    },
    requestDone(record: AccessRecord) {
      inFlight -= 1;
      if (inFlight === 0) idleWaiter?.();
      if (accessLog) accessLogger.info(record, 'access');
      frontendStats.requestDone(record);
      for (const o of extraObservers) o.requestDone(record);
    },
  };

  const gate = new ConnectionGate(config.maxconn);
  const ticketKeys = randomBytes(48);
  const idPrefix = `${process.pid.toString(36)}-`;

  function routeOf(frontend: FrontendConfig): FrontendRoute {
    if (frontend.redirect === 'https') {
      const target = config.frontends.find((f) => f.tls !== null)!;
      return { kind: 'redirect', httpsPort: () => ports.get(target.name) ?? target.bind.port };
    }
    return { kind: 'backend', backend: backends.get(frontend.backend!)! };
  }

  const facts = new Map<string, { name: string; proto: 'http' | 'https'; port: string }>();
  const listeners: Listener[] = config.frontends.map((frontend) => {
    const frontendFacts = { name: frontend.name, proto: frontend.tls ? ('https' as const) : ('http' as const), port: String(frontend.bind.port) };
    facts.set(frontend.name, frontendFacts);
    const route = routeOf(frontend);
    const handleRequest = createRequestHandler({
      frontend: frontendFacts,
      route,
      serverTimeoutMs: config.timeouts.serverMs,
      clientTimeoutMs: config.timeouts.clientMs,
      observer,
      draining: () => draining,
      idPrefix,
      logger,
    });
    const handleUpgrade = createUpgradeHandler({
      frontend: frontendFacts,
      route,
      clientTimeoutMs: config.timeouts.clientMs,
      logger,
      observer,
      idPrefix,
    });
    const listener = createListener(
      frontend,
      frontend.tls ? createFrontendTls(frontend.tls, ticketKeys) : null,
      config.timeouts,
      {
        request(req: IncomingMessage, res: ServerResponse) {
          inFlight += 1;
          handleRequest(req, res);
        },
        upgrade(req: IncomingMessage, socket: Duplex, head: Buffer) {
          inFlight += 1;
          handleUpgrade(req, socket, head);
        },
        connections: (delta) => {
          metrics.frontendConnection(frontend.name, delta);
          frontendStats.connection(frontend.name, delta);
        },
        tlsError: () => metrics.tlsHandshakeError(frontend.name),
      },
      logger,
      gate,
    );
    metrics.addFrontend(frontend.name);
    return listener;
  });

  const admin: http.Server | null = config.admin
    ? createAdminServer({ config: config.admin, control, frontends: () => frontendStats.view(), metrics, draining: () => draining, logger })
    : null;

  function adminPort(): number | undefined {
    const address = admin?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  async function closeAdmin(): Promise<void> {
    if (!admin?.listening) return;
    admin.closeAllConnections();
    await new Promise<void>((resolve) => admin.close(() => resolve()));
  }

  async function closeServers(): Promise<void> {
    await health.stop();
    await Promise.all([...backends.values()].flatMap((b) => b.servers.map((s) => s.destroy())));
  }

  return {
    config,
    backends,
    metrics,
    health,
    control,
    get draining() {
      return draining;
    },
    async listen() {
      if (config.stateFile) control.restore(await loadStateFile(config.stateFile, logger));
      for (const listener of listeners) {
        const port = await listener.listen();
        ports.set(listener.config.name, port);
        frontendStats.listening(listener.config.name, port);
        // X-Forwarded-Port is the real port, known now.
        facts.get(listener.config.name)!.port = String(port);
        logger.info(
          { frontend: listener.config.name, address: listener.config.bind.host, port, tls: listener.config.tls !== null },
          'listening',
        );
      }
      if (admin && config.admin) {
        await new Promise<void>((resolve, reject) => {
          admin.once('error', reject);
          admin.listen({ host: config.admin!.bind.host, port: config.admin!.bind.port }, () => {
            admin.off('error', reject);
            resolve();
          });
        });
        logger.info({ admin: true, address: config.admin.bind.host, port: adminPort() }, 'admin listening');
      }
      health.start();
    },
    adminPort,
    port(frontend) {
      const port = ports.get(frontend);
      if (port === undefined) throw new Error(`frontend ${frontend} is not listening`);
      return port;
    },
    async shutdown() {
      draining = true;
      gate.dropWaiting();
      for (const listener of listeners) {
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
      for (const { server } of listeners) server.closeAllConnections();
      await closeServers();
      await closeAdmin();
    },
    async close() {
      draining = true;
      gate.dropWaiting();
      for (const listener of listeners) {
        listener.stopAccepting();
        listener.server.closeAllConnections();
      }
      await closeServers();
      await closeAdmin();
    },
  };
}
