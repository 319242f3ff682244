// What a running Doorman offers its callers (the CLI, the cluster roles, tests), and
// what they configure it with. src/app.ts builds it.
import type { Logger } from 'pino';
import type { CertificateView } from './acme/inventory.js';
import type { AcmeServingState, AcmeUpdate } from './acme/serving-state.js';
import type { ReloadHook } from './admin/control/api.js';
import type { ServerControl } from './admin/control/server-control.js';
import type { LbMetrics } from './admin/metrics/metrics.js';
import type { Backend } from './backend/backend.js';
import type { ServerChangeListener } from './backend/server.js';
import type { Config } from './config/types.js';
import type { ExchangeObserver } from './exchange/exchange.js';
import type { FrontendStats, FrontendView } from './frontend/frontend-stats.js';
import type { ServerHealth } from './health/server-health.js';

/** What this process does: everything, or one side of `workers: N` (see src/cluster/roles.ts). */
export interface Role {
  /** Binds the frontends and serves traffic. */
  readonly serves: boolean;
  /** Runs the health checks, the admin listener and the state file. */
  readonly controls: boolean;
}

/** A running (or ready to run) Doorman. */
export interface LoadBalancer {
  /** The config in force: the latest one a reload applied. */
  readonly config: Config;
  readonly backends: ReadonlyMap<string, Backend>;
  readonly metrics: LbMetrics;
  readonly frontendStats: FrontendStats;
  /** The frontends as /api/state shows them: counts, and routes with their hits. */
  frontendView(): FrontendView[];
  readonly health: ServerHealth;
  readonly control: ServerControl;
  /** The ACME certificates and challenges this process serves (a worker applies its primary's updates here). */
  readonly acme: AcmeServingState;
  /** Every certificate the frontends serve, as /api/certs shows them (the controlling process). */
  certificates(): CertificateView[];
  /** Starts ACME orders (listen() does it in a process that serves; a primary once its workers listen). */
  startAcme(): void;
  /** True from the start of a graceful shutdown. */
  readonly draining: boolean;
  /** Listens to every server's state changes (health, operator state, weight). */
  onServerChange(listener: ServerChangeListener): void;
  /** Binds every frontend (one `listening` line each) and the admin listener. */
  listen(): Promise<void>;
  /** Swaps in a validated config; resolves with the problems met applying it (a bind that failed), else []. */
  reload(config: Config): Promise<string[]>;
  /** The port a frontend is bound to (after listen). */
  port(frontend: string): number;
  adminPort(): number | undefined;
  /** Turns /healthz to 503 and closes keep-alive answers, closing nothing yet (a primary while its workers drain). */
  drain(): void;
  /** Stops accepting, lets requests in flight finish (up to timeouts.shutdown), closes everything. */
  shutdown(): Promise<void>;
  /** Closes everything at once. */
  close(): Promise<void>;
}

export interface LoadBalancerOptions {
  readonly logger: Logger;
  /** Its level decides whether access lines are written. */
  readonly accessLogger: Logger;
  /** Writes one access line (JSON or HAProxy's httplog) to the log's destination, after the lines before it. */
  readonly accessLine: (line: string) => void;
  readonly observers?: readonly ExchangeObserver[];
  /** prom-client's process metrics (default true; tests running several balancers turn them off). */
  readonly processMetrics?: boolean;
  /** What `POST /api/reload` runs: re-reads the config file. */
  readonly reload?: ReloadHook;
  /** Default: one process does everything. */
  readonly role?: Role;
  /** TLS session ticket keys; workers share the primary's so sessions resume on any of them. */
  readonly ticketKeys?: Buffer;
  /** A worker: where passive-check outcomes go (to the primary). */
  readonly passiveSink?: (key: string, ok: boolean) => void;
  /** A primary: what /api/state and /metrics answer (sums over the workers). */
  readonly stateView?: () => Promise<unknown>;
  readonly metricsText?: () => Promise<string>;
  /** A primary: hands an ACME certificate or challenge to every worker; resolves once they have it. */
  readonly acmePublish?: (update: AcmeUpdate) => Promise<void>;
}
