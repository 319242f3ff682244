// Prometheus metrics in the application's own Registry (never prom-client's global
// one). Server gauges are read from the live servers at scrape time, so they change
// in the same instant as the balancer's view. With metrics.haproxyCompat the same
// events also feed HAProxy's exporter names (haproxy-metrics.ts).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Backend } from '../backend/backend.js';
import type { UpstreamServer } from '../backend/server.js';
import type { AccessRecord } from '../proxy/access-record.js';
import type { TransactionObserver } from '../proxy/transaction.js';
import type { ClassifiedError } from '../proxy/upstream-error.js';
import { HaproxyMetrics } from './haproxy-metrics.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The balancer's metrics; also a TransactionObserver fed by every request. */
export class LbMetrics implements TransactionObserver {
  readonly registry = new Registry();
  readonly #requests: Counter<'frontend' | 'backend' | 'server' | 'code'>;
  readonly #duration: Histogram<'backend'>;
  readonly #queueTime: Histogram<'backend'>;
  readonly #connectTime: Histogram<'backend'>;
  readonly #bytesIn: Counter<'frontend' | 'backend'>;
  readonly #bytesOut: Counter<'frontend' | 'backend'>;
  readonly #checkFailures: Counter<'backend' | 'server'>;
  readonly #checkDuration: Histogram<'backend' | 'server'>;
  readonly #upstreamTlsErrors: Counter<'backend' | 'server'>;
  readonly #retries: Counter<'backend'>;
  readonly #redispatches: Counter<'backend'>;
  readonly #frontendConnections: Gauge<'frontend'>;
  readonly #tlsHandshakeErrors: Counter<'frontend'>;
  readonly #transitions: Counter<'backend' | 'server' | 'to'>;
  /** Null unless metrics.haproxyCompat: then every event is forwarded to it. */
  readonly #compat: HaproxyMetrics | null;

  /** `backends` is read at every scrape, so a reload's new backends show at once. */
  constructor(backends: () => Iterable<Backend>, options: { processMetrics?: boolean; haproxyCompat?: boolean } = {}) {
    const registers = [this.registry];
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.#compat = options.haproxyCompat ? new HaproxyMetrics(this.registry, backends) : null;
    const eachServer = (fn: (backend: Backend, server: UpstreamServer) => void) => {
      for (const backend of backends()) for (const server of backend.servers) fn(backend, server);
    };

    this.#requests = new Counter({
      name: 'lb_requests_total',
      help: 'Requests answered, by frontend, backend, server and status code.',
      labelNames: ['frontend', 'backend', 'server', 'code'],
      registers,
    });
    this.#duration = new Histogram({
      name: 'lb_request_duration_seconds',
      help: 'Time from request received to response finished.',
      labelNames: ['backend'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#queueTime = new Histogram({
      name: 'lb_queue_duration_seconds',
      help: 'Time requests waited for a free server slot.',
      labelNames: ['backend'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#connectTime = new Histogram({
      name: 'lb_connect_duration_seconds',
      help: 'Time to get a connection to the server (pooled or new, TCP + TLS).',
      labelNames: ['backend'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#bytesIn = new Counter({
      name: 'lb_request_bytes_total',
      help: 'Request body bytes received from clients and sent upstream.',
      labelNames: ['frontend', 'backend'],
      registers,
    });
    this.#bytesOut = new Counter({
      name: 'lb_response_bytes_total',
      help: 'Response body bytes sent to clients.',
      labelNames: ['frontend', 'backend'],
      registers,
    });
    // With workers, /metrics aggregates every process: state every process holds alike
    // (up, weight, operator state) takes the max, what each holds a share of is summed.
    const serverGauge = (name: string, help: string, value: (s: UpstreamServer) => number, aggregator: 'sum' | 'max' = 'sum') =>
      new Gauge({
        name,
        help,
        labelNames: ['backend', 'server'],
        aggregator,
        registers,
        collect() {
          this.reset();
          eachServer((b, s) => this.set({ backend: b.name, server: s.name }, value(s)));
        },
      });
    serverGauge('lb_server_up', '1 when the server passes its health checks, else 0.', (s) => (s.healthy ? 1 : 0), 'max');
    serverGauge('lb_server_weight', 'Current weight of the server.', (s) => s.weight, 'max');
    serverGauge('lb_server_active_connections', 'Requests in flight on the server.', (s) => s.active);
    serverGauge('lb_server_queue', 'Requests waiting for this server (pinned by their cookie).', (s) => s.queue.size);
    new Gauge({
      name: 'lb_server_admin_state',
      help: 'Operator state: 1 for the state the server is in (READY, DRAIN, MAINT).',
      labelNames: ['backend', 'server', 'state'],
      aggregator: 'max',
      registers,
      collect() {
        this.reset();
        eachServer((b, s) => {
          for (const state of ['READY', 'DRAIN', 'MAINT'] as const) {
            this.set({ backend: b.name, server: s.name, state }, s.adminState === state ? 1 : 0);
          }
        });
      },
    });
    new Gauge({
      name: 'lb_backend_queue',
      help: 'Requests waiting for any server of the backend.',
      labelNames: ['backend'],
      registers,
      collect() {
        this.reset();
        for (const b of backends()) this.set({ backend: b.name }, b.queue.size);
      },
    });
    this.#checkFailures = new Counter({
      name: 'lb_server_check_failures_total',
      help: 'Failed active health checks.',
      labelNames: ['backend', 'server'],
      registers,
    });
    this.#checkDuration = new Histogram({
      name: 'lb_server_check_duration_seconds',
      help: 'Duration of active health checks.',
      labelNames: ['backend', 'server'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.#upstreamTlsErrors = new Counter({
      name: 'lb_upstream_tls_errors_total',
      help: 'Connections to a server refused by TLS verification (CA, name, expiry, pin) or a failed handshake.',
      labelNames: ['backend', 'server'],
      registers,
    });
    this.#retries = new Counter({ name: 'lb_retries_total', help: 'Requests retried after a failed attempt.', labelNames: ['backend'], registers });
    this.#redispatches = new Counter({
      name: 'lb_redispatches_total',
      help: 'Retries sent to another server than the failed one.',
      labelNames: ['backend'],
      registers,
    });
    this.#frontendConnections = new Gauge({
      name: 'lb_frontend_connections',
      help: 'Client connections open on the frontend.',
      labelNames: ['frontend'],
      registers,
    });
    this.#tlsHandshakeErrors = new Counter({
      name: 'lb_frontend_tls_handshake_errors_total',
      help: 'Client TLS handshakes that failed.',
      labelNames: ['frontend'],
      registers,
    });
    this.#transitions = new Counter({
      name: 'lb_server_transitions_total',
      help: 'Health transitions, by the state entered.',
      labelNames: ['backend', 'server', 'to'],
      registers,
    });
  }

  /** Declares a backend and its servers so their counters show 0 before anything happens. */
  addBackend(backend: Backend): void {
    this.#retries.inc({ backend: backend.name }, 0);
    this.#redispatches.inc({ backend: backend.name }, 0);
    for (const server of backend.servers) {
      const labels = { backend: backend.name, server: server.name };
      this.#checkFailures.inc(labels, 0);
      this.#upstreamTlsErrors.inc(labels, 0);
    }
    this.#compat?.addBackend(backend);
  }

  /** Declares a frontend so its gauges show 0 before any traffic. */
  addFrontend(frontend: string): void {
    this.#frontendConnections.inc({ frontend }, 0);
    this.#tlsHandshakeErrors.inc({ frontend }, 0);
    this.#compat?.addFrontend(frontend);
  }

  frontendConnection(frontend: string, delta: 1 | -1): void {
    this.#frontendConnections.inc({ frontend }, delta);
    this.#compat?.frontendConnection(frontend, delta);
  }

  /** A request the listener could not parse (answered 400, 408 or 431 there). */
  requestError(frontend: string): void {
    this.#compat?.requestError(frontend);
  }

  tlsHandshakeError(frontend: string): void {
    this.#tlsHandshakeErrors.inc({ frontend });
  }

  checkDone(backend: string, server: string, ok: boolean, durationMs: number): void {
    this.#checkDuration.observe({ backend, server }, durationMs / 1000);
    if (!ok) this.#checkFailures.inc({ backend, server });
    this.#compat?.checkDone(backend, server, ok);
  }

  transition(backend: string, server: string, to: 'UP' | 'DOWN'): void {
    this.#transitions.inc({ backend, server, to });
    this.#compat?.transition(backend, server, to);
  }

  /** A connection to a server refused by TLS verification: live traffic or a health check. */
  upstreamTlsError(backend: string, server: string): void {
    this.#upstreamTlsErrors.inc({ backend, server });
  }

  attemptDone(server: UpstreamServer, failure: ClassifiedError | null): void {
    if (failure?.kind === 'tls') this.upstreamTlsError(server.backendName, server.name);
    this.#compat?.attemptDone(server, failure);
  }

  requestDone(r: AccessRecord): void {
    this.#compat?.requestDone(r);
    if (r.backend === '') return;
    this.#requests.inc({ frontend: r.frontend, backend: r.backend, server: r.server, code: String(r.status) });
    this.#duration.observe({ backend: r.backend }, r.totalMs / 1000);
    if (r.queueMs > 0) this.#queueTime.observe({ backend: r.backend }, r.queueMs / 1000);
    if (r.connectMs >= 0) this.#connectTime.observe({ backend: r.backend }, r.connectMs / 1000);
    if (r.bytesIn > 0) this.#bytesIn.inc({ frontend: r.frontend, backend: r.backend }, r.bytesIn);
    if (r.bytesOut > 0) this.#bytesOut.inc({ frontend: r.frontend, backend: r.backend }, r.bytesOut);
    if (r.retries > 0) this.#retries.inc({ backend: r.backend }, r.retries);
    if (r.redispatched) this.#redispatches.inc({ backend: r.backend });
  }
}
