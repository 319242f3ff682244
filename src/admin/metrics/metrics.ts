// Prometheus metrics in the application's own Registry (never prom-client's global
// one). Server gauges are read from the live servers at scrape time, so they change
// in the same instant as the balancer's view. With metrics.haproxyCompat the same
// events also feed HAProxy's exporter names (haproxy-metrics.ts).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Backend } from '../../backend/backend.js';
import type { ServerChangeKind, UpstreamServer } from '../../backend/server.js';
import type { UpstreamError } from '../../errors.js';
import type { AccessRecord } from '../../exchange/access-record.js';
import type { ExchangeObserver } from '../../exchange/exchange.js';
import type { LimitReason } from '../../limits/client-limits.js';
import { HaproxyMetrics } from './haproxy-metrics.js';
import { SeriesCounter, SeriesHistogram, type CounterSeries, type HistogramSeries } from './series.js';

/** Every reason lb_limit_rejections_total counts, declared at 0 per frontend. */
const LIMIT_REASONS: readonly LimitReason[] = ['deny', 'connections', 'rate'];

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The series one (frontend, backend) pair's requests write to, resolved on its first request. */
interface RouteSeries {
  readonly duration: HistogramSeries;
  readonly queueTime: HistogramSeries;
  readonly connectTime: HistogramSeries;
  readonly bytesIn: CounterSeries;
  readonly bytesOut: CounterSeries;
  readonly retries: CounterSeries;
  readonly redispatches: CounterSeries;
  /** lb_requests_total by server name, then status code. */
  readonly requests: Map<string, Map<number, CounterSeries>>;
}

/** The balancer's metrics; also an ExchangeObserver fed by every request. */
export class LbMetrics implements ExchangeObserver {
  readonly registry = new Registry();
  // Written by every request: SeriesCounter/SeriesHistogram, no label hashing per request.
  readonly #requests: SeriesCounter;
  readonly #duration: SeriesHistogram;
  readonly #queueTime: SeriesHistogram;
  readonly #connectTime: SeriesHistogram;
  readonly #bytesIn: SeriesCounter;
  readonly #bytesOut: SeriesCounter;
  readonly #retries: SeriesCounter;
  readonly #redispatches: SeriesCounter;
  /** lb_route_requests_total: routes are few and named in the config, so the label stays bounded. */
  readonly #routeRequests: SeriesCounter;
  readonly #routeSeries = new Map<string, CounterSeries>();
  /** By frontend name, then backend name. */
  readonly #routes = new Map<string, Map<string, RouteSeries>>();
  readonly #checkFailures: Counter<'backend' | 'server'>;
  readonly #checkDuration: Histogram<'backend' | 'server'>;
  readonly #upstreamTlsErrors: Counter<'backend' | 'server'>;
  readonly #frontendConnections: Gauge<'frontend'>;
  readonly #tlsHandshakeErrors: Counter<'frontend'>;
  readonly #http2Streams: Counter<'frontend'>;
  readonly #http2Abuse: Counter<'frontend' | 'reason'>;
  readonly #limitRejections: Counter<'frontend' | 'reason'>;
  readonly #proxyProtocolErrors: Counter<'frontend' | 'reason'>;
  readonly #transitions: Counter<'backend' | 'server' | 'to'>;
  readonly #acmeRenewals: Counter<'result'>;
  /** The certificates the frontends serve, read at scrape time; none until watchCertificates. */
  #certificates: () => readonly { frontend: string; names: readonly string[]; notAfter: string | null }[] = () => [];
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

    const registry = this.registry;
    this.#requests = new SeriesCounter(
      'lb_requests_total',
      'Requests answered, by frontend, backend, server and status code.',
      ['frontend', 'backend', 'server', 'code'],
      registry,
    );
    this.#duration = new SeriesHistogram(
      'lb_request_duration_seconds',
      'Time from request received to response finished.',
      ['backend'],
      LATENCY_BUCKETS,
      registry,
    );
    this.#queueTime = new SeriesHistogram(
      'lb_queue_duration_seconds',
      'Time requests waited for a free server slot.',
      ['backend'],
      LATENCY_BUCKETS,
      registry,
    );
    this.#connectTime = new SeriesHistogram(
      'lb_connect_duration_seconds',
      'Time to get a connection to the server (pooled or new, TCP + TLS).',
      ['backend'],
      LATENCY_BUCKETS,
      registry,
    );
    this.#bytesIn = new SeriesCounter(
      'lb_request_bytes_total',
      'Request body bytes received from clients and sent upstream.',
      ['frontend', 'backend'],
      registry,
    );
    this.#bytesOut = new SeriesCounter(
      'lb_response_bytes_total',
      'Response body bytes sent to clients.',
      ['frontend', 'backend'],
      registry,
    );
    this.#retries = new SeriesCounter('lb_retries_total', 'Requests retried after a failed attempt.', ['backend'], registry);
    this.#redispatches = new SeriesCounter(
      'lb_redispatches_total',
      'Retries sent to another server than the failed one.',
      ['backend'],
      registry,
    );
    this.#routeRequests = new SeriesCounter(
      'lb_route_requests_total',
      'Requests a route took, by frontend and route name.',
      ['frontend', 'route'],
      registry,
    );
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
    this.#http2Streams = new Counter({
      name: 'lb_http2_streams_total',
      help: 'HTTP/2 streams opened by clients.',
      labelNames: ['frontend'],
      registers,
    });
    this.#http2Abuse = new Counter({
      name: 'lb_http2_abuse_closes_total',
      help: 'HTTP/2 connections closed with GOAWAY for abuse (rapid reset), by reason.',
      labelNames: ['frontend', 'reason'],
      registers,
    });
    this.#limitRejections = new Counter({
      name: 'lb_limit_rejections_total',
      help: "Clients refused by the frontend's limits: connections closed at accept (deny, connections) and requests answered 429 (rate).",
      labelNames: ['frontend', 'reason'],
      registers,
    });
    this.#proxyProtocolErrors = new Counter({
      name: 'lb_proxy_protocol_errors_total',
      help: 'Connections from a trusted peer closed because their PROXY header was missing, malformed or late.',
      labelNames: ['frontend', 'reason'],
      registers,
    });
    this.#transitions = new Counter({
      name: 'lb_server_transitions_total',
      help: 'Health transitions, by the state entered.',
      labelNames: ['backend', 'server', 'to'],
      registers,
    });
    this.#acmeRenewals = new Counter({
      name: 'lb_acme_renewals_total',
      help: 'ACME orders (first issuance and renewals), by result: success or failure.',
      labelNames: ['result'],
      registers,
    });
    for (const result of ['success', 'failure']) this.#acmeRenewals.inc({ result }, 0);
    const certificates = () => this.#certificates();
    new Gauge({
      name: 'lb_cert_expiry_timestamp_seconds',
      help: 'When a certificate a frontend serves expires (Unix time), by frontend and its first name; files and ACME alike.',
      labelNames: ['frontend', 'name'],
      // Only the controlling process knows certificates; workers export none.
      aggregator: 'max',
      registers,
      collect() {
        this.reset();
        for (const cert of certificates()) {
          if (cert.notAfter !== null && cert.names[0] !== undefined)
            this.set({ frontend: cert.frontend, name: cert.names[0] }, Math.floor(Date.parse(cert.notAfter) / 1000));
        }
      },
    });
  }

  /** The certificates lb_cert_expiry_timestamp_seconds reports, read at every scrape. */
  watchCertificates(certificates: () => readonly { frontend: string; names: readonly string[]; notAfter: string | null }[]): void {
    this.#certificates = certificates;
  }

  /** An ACME order ended. */
  acmeRenewal(result: 'success' | 'failure'): void {
    this.#acmeRenewals.inc({ result });
  }

  /** Declares a backend and its servers so their counters show 0 before anything happens. */
  addBackend(backend: Backend): void {
    this.#retries.child({ backend: backend.name });
    this.#redispatches.child({ backend: backend.name });
    for (const server of backend.servers) {
      const labels = { backend: backend.name, server: server.name };
      this.#checkFailures.inc(labels, 0);
      this.#upstreamTlsErrors.inc(labels, 0);
    }
    this.#compat?.addBackend(backend);
  }

  /** Declares a frontend so its gauges show 0 before any traffic. */
  frontendAdded(frontend: string): void {
    this.#frontendConnections.inc({ frontend }, 0);
    this.#tlsHandshakeErrors.inc({ frontend }, 0);
    this.#http2Streams.inc({ frontend }, 0);
    for (const reason of LIMIT_REASONS) this.#limitRejections.inc({ frontend, reason }, 0);
    this.#compat?.addFrontend(frontend);
  }

  connection(frontend: string, delta: 1 | -1): void {
    this.#frontendConnections.inc({ frontend }, delta);
    this.#compat?.frontendConnection(frontend, delta);
  }

  /** A request the listener could not parse (answered 400, 408 or 431 there). */
  requestError(frontend: string): void {
    this.#compat?.requestError(frontend);
  }

  http2Stream(frontend: string): void {
    this.#http2Streams.inc({ frontend });
  }

  http2Abuse(frontend: string, reason: string): void {
    this.#http2Abuse.inc({ frontend, reason });
  }

  limitRejected(frontend: string, reason: LimitReason): void {
    this.#limitRejections.inc({ frontend, reason });
    if (reason !== 'rate') this.#compat?.deniedConnection(frontend);
  }

  proxyProtocolError(frontend: string, reason: string): void {
    this.#proxyProtocolErrors.inc({ frontend, reason });
  }

  tlsHandshakeError(frontend: string): void {
    this.#tlsHandshakeErrors.inc({ frontend });
  }

  checkDone(backend: string, server: string, ok: boolean, durationMs: number): void {
    this.#checkDuration.observe({ backend, server }, durationMs / 1000);
    if (!ok) this.#checkFailures.inc({ backend, server });
    this.#compat?.checkDone(backend, server, ok);
  }

  /** A server's change event: health transitions are counted (operator changes show in the gauges). */
  serverChanged(server: UpstreamServer, kind: ServerChangeKind): void {
    if (kind !== 'health') return;
    const to = server.healthy ? 'UP' : 'DOWN';
    this.#transitions.inc({ backend: server.backendName, server: server.name, to });
    this.#compat?.transition(server.backendName, server.name, to);
  }

  /** A connection to a server refused by TLS verification: live traffic or a health check. */
  upstreamTlsError(backend: string, server: string): void {
    this.#upstreamTlsErrors.inc({ backend, server });
  }

  attemptDone(server: UpstreamServer, failure: UpstreamError | null): void {
    if (failure?.code === 'LB_ERR_UPSTREAM_TLS') this.upstreamTlsError(server.backendName, server.name);
    this.#compat?.attemptDone(server, failure);
  }

  requestDone(r: AccessRecord): void {
    this.#compat?.requestDone(r);
    if (r.route !== '') this.#routeOf(r.frontend, r.route).inc();
    if (r.backend === '') return;
    const route = this.#route(r.frontend, r.backend);
    this.#requestsOf(route, r).inc();
    route.duration.observe(r.totalMs / 1000);
    if (r.queueMs > 0) route.queueTime.observe(r.queueMs / 1000);
    if (r.connectMs >= 0) route.connectTime.observe(r.connectMs / 1000);
    if (r.bytesIn > 0) route.bytesIn.inc(r.bytesIn);
    if (r.bytesOut > 0) route.bytesOut.inc(r.bytesOut);
    if (r.retries > 0) route.retries.inc(r.retries);
    if (r.redispatched) route.redispatches.inc();
  }

  #routeOf(frontend: string, route: string): CounterSeries {
    const key = `${frontend}\u0000${route}`;
    let series = this.#routeSeries.get(key);
    if (series === undefined) this.#routeSeries.set(key, (series = this.#routeRequests.child({ frontend, route })));
    return series;
  }

  #route(frontend: string, backend: string): RouteSeries {
    let byBackend = this.#routes.get(frontend);
    if (byBackend === undefined) this.#routes.set(frontend, (byBackend = new Map<string, RouteSeries>()));
    let route = byBackend.get(backend);
    if (route === undefined) {
      route = {
        duration: this.#duration.child({ backend }),
        queueTime: this.#queueTime.child({ backend }),
        connectTime: this.#connectTime.child({ backend }),
        bytesIn: this.#bytesIn.child({ frontend, backend }),
        bytesOut: this.#bytesOut.child({ frontend, backend }),
        retries: this.#retries.child({ backend }),
        redispatches: this.#redispatches.child({ backend }),
        requests: new Map(),
      };
      byBackend.set(backend, route);
    }
    return route;
  }

  #requestsOf(route: RouteSeries, r: AccessRecord): CounterSeries {
    let byCode = route.requests.get(r.server);
    if (byCode === undefined) route.requests.set(r.server, (byCode = new Map<number, CounterSeries>()));
    let series = byCode.get(r.status);
    if (series === undefined) {
      series = this.#requests.child({ frontend: r.frontend, backend: r.backend, server: r.server, code: String(r.status) });
      byCode.set(r.status, series);
    }
    return series;
  }
}
