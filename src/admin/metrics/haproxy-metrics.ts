// HAProxy's Prometheus exporter names (addons/promex, HAProxy 2.6) for the facts
// Doorman has, with HAProxy's labels (`proxy`, `server`, `state`, `code`), so a Grafana
// dashboard built for HAProxy works unchanged. Created only with
// `metrics.haproxyCompat: true`, in LbMetrics' registry, fed by the same events.
//
// Several workers will be summed by prom-client's AggregatorRegistry: counters and
// current counts (sessions, queues) are per-process facts and sum correctly. Gauges
// that describe a server or backend rather than a process's share of the traffic
// (state, weight, check result) use `aggregator: 'max'`, time since the last change
// uses 'min', so N workers do not read as N times UP.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Backend } from '../../backend/backend.js';
import type { ServerState, UpstreamServer } from '../../backend/server.js';
import type { UpstreamError, UpstreamErrorCode } from '../../errors.js';
import type { AccessRecord } from '../../exchange/access-record.js';

/** HAProxy's status classes for `http_responses_total{code}`. */
const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
type CodeClass = (typeof CODE_CLASSES)[number];

function codeClass(status: number): CodeClass {
  return status >= 100 && status < 600 ? CODE_CLASSES[Math.floor(status / 100) - 1]! : 'other';
}

/** The states `haproxy_server_status` has one series each for; NOLB (soft-stopping) never applies to Doorman. */
const SERVER_STATES = ['DOWN', 'UP', 'MAINT', 'DRAIN', 'NOLB'] as const satisfies ReadonlyArray<ServerState | 'NOLB'>;
const BACKEND_STATES = ['DOWN', 'UP'] as const;

/** Failures HAProxy counts as connection errors; the rest (closed, timeout, protocol) are response errors. */
const CONNECTION_FAILURES = new Set<UpstreamErrorCode>(['LB_ERR_CONNECT', 'LB_ERR_CONNECT_TIMEOUT', 'LB_ERR_UPSTREAM_TLS']);

type ServerLabels = 'proxy' | 'server';

/** The HAProxy-named metrics; every method is an event LbMetrics forwards. */
export class HaproxyMetrics {
  readonly #server: {
    readonly responses: Counter<ServerLabels | 'code'>;
    readonly sessions: Counter<ServerLabels>;
    readonly bytesIn: Counter<ServerLabels>;
    readonly bytesOut: Counter<ServerLabels>;
    readonly connectionErrors: Counter<ServerLabels>;
    readonly responseErrors: Counter<ServerLabels>;
    readonly clientAborts: Counter<ServerLabels>;
    readonly serverAborts: Counter<ServerLabels>;
    readonly checkFailures: Counter<ServerLabels>;
    readonly checkUpDown: Counter<ServerLabels>;
  };
  readonly #backend: {
    readonly requests: Counter<'proxy'>;
    readonly responses: Counter<'proxy' | 'code'>;
    readonly sessions: Counter<'proxy'>;
    readonly bytesIn: Counter<'proxy'>;
    readonly bytesOut: Counter<'proxy'>;
    readonly connectionErrors: Counter<'proxy'>;
    readonly responseErrors: Counter<'proxy'>;
    readonly retries: Counter<'proxy'>;
    readonly redispatches: Counter<'proxy'>;
    readonly clientAborts: Counter<'proxy'>;
    readonly serverAborts: Counter<'proxy'>;
    readonly internalErrors: Counter<'proxy'>;
  };
  readonly #frontend: {
    readonly status: Gauge<'proxy' | 'state'>;
    readonly currentSessions: Gauge<'proxy'>;
    readonly connections: Counter<'proxy'>;
    readonly sessions: Counter<'proxy'>;
    readonly requests: Counter<'proxy'>;
    readonly responses: Counter<'proxy' | 'code'>;
    readonly bytesIn: Counter<'proxy'>;
    readonly bytesOut: Counter<'proxy'>;
    readonly requestErrors: Counter<'proxy'>;
    readonly intercepted: Counter<'proxy'>;
    readonly internalErrors: Counter<'proxy'>;
    readonly deniedConnections: Counter<'proxy'>;
    readonly deniedRequests: Counter<'proxy'>;
  };
  readonly #process: {
    readonly currentConnections: Gauge;
    readonly connections: Counter;
    readonly requests: Counter;
  };

  /** `backends` is read at every scrape, like LbMetrics' own server gauges. */
  constructor(registry: Registry, backends: () => Iterable<Backend>) {
    const registers = [registry];
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
      new Counter<L>({ name, help, labelNames, registers });
    const eachServer = (fn: (backend: Backend, server: UpstreamServer) => void) => {
      for (const backend of backends()) for (const server of backend.servers) fn(backend, server);
    };
    /** `value` returns null for "no such series" (e.g. check results of a server without checks). */
    const serverGauge = (
      name: string,
      help: string,
      aggregator: 'sum' | 'max' | 'min',
      value: (s: UpstreamServer, b: Backend) => number | null,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['proxy', 'server'],
        registers,
        aggregator,
        collect() {
          this.reset();
          eachServer((b, s) => {
            const v = value(s, b);
            if (v !== null) this.set({ proxy: b.name, server: s.name }, v);
          });
        },
      });
    const backendGauge = (name: string, help: string, aggregator: 'sum' | 'max', value: (b: Backend) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['proxy'],
        registers,
        aggregator,
        collect() {
          this.reset();
          for (const b of backends()) this.set({ proxy: b.name }, value(b));
        },
      });
    const sp = ['proxy', 'server'] as const;
    const p = ['proxy'] as const;

    // ---- servers ----
    new Gauge({
      name: 'haproxy_server_status',
      help: 'Current status of the service, per state label value.',
      labelNames: ['proxy', 'server', 'state'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        eachServer((b, s) => {
          const current = s.state;
          for (const state of SERVER_STATES) this.set({ proxy: b.name, server: s.name, state }, state === current ? 1 : 0);
        });
      },
    });
    serverGauge('haproxy_server_current_sessions', 'Number of current sessions on the frontend, backend or server', 'sum', (s) => s.active);
    serverGauge('haproxy_server_current_queue', 'Number of current queued connections', 'sum', (s) => s.queue.size);
    // HAProxy drains a server by setting its effective weight to 0; slow start lowers it while it ramps.
    serverGauge(
      'haproxy_server_weight',
      "Server's effective weight, or sum of active servers' effective weights for a backend",
      'max',
      (s) => (s.adminState === 'DRAIN' ? 0 : s.effectiveWeight),
    );
    serverGauge(
      'haproxy_server_uweight',
      "Server's user weight, or sum of active servers' user weights for a backend",
      'max',
      (s) => s.weight,
    );
    serverGauge('haproxy_server_check_last_change_seconds', 'How long ago the last server state changed, in seconds', 'min', (s) =>
      Math.floor((Date.now() - s.lastChangeAt) / 1000),
    );
    serverGauge('haproxy_server_check_code', 'layer5-7 code, if available of the last health check.', 'max', (s, b) =>
      b.config.check ? (s.lastCheck?.code ?? 0) : null,
    );
    serverGauge('haproxy_server_check_duration_seconds', 'Total duration of the latest server health check, in seconds.', 'max', (s, b) =>
      b.config.check ? (s.lastCheck?.durationMs ?? 0) / 1000 : null,
    );
    this.#server = {
      responses: counter('haproxy_server_http_responses_total', 'Total number of HTTP responses, by status class', [
        'proxy',
        'server',
        'code',
      ]),
      sessions: counter('haproxy_server_sessions_total', 'Total number of sessions since process started', sp),
      bytesIn: counter('haproxy_server_bytes_in_total', 'Total number of request bytes since process started', sp),
      bytesOut: counter('haproxy_server_bytes_out_total', 'Total number of response bytes since process started', sp),
      connectionErrors: counter(
        'haproxy_server_connection_errors_total',
        'Total number of failed connections to server since the worker process started',
        sp,
      ),
      responseErrors: counter(
        'haproxy_server_response_errors_total',
        'Total number of invalid responses since the worker process started',
        sp,
      ),
      clientAborts: counter(
        'haproxy_server_client_aborts_total',
        'Total number of requests or connections aborted by the client since the worker process started',
        sp,
      ),
      serverAborts: counter(
        'haproxy_server_server_aborts_total',
        'Total number of requests or connections aborted by the server since the worker process started',
        sp,
      ),
      checkFailures: counter(
        'haproxy_server_check_failures_total',
        'Total number of failed individual health checks per server/backend, since the worker process started',
        sp,
      ),
      checkUpDown: counter(
        'haproxy_server_check_up_down_total',
        'Total number of failed checks causing UP to DOWN server transitions, per server/backend, since the worker process started',
        sp,
      ),
    };

    // ---- backends ----
    new Gauge({
      name: 'haproxy_backend_status',
      help: 'Current status of the service, per state label value.',
      labelNames: ['proxy', 'state'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        for (const b of backends()) {
          const up = b.servers.some((s) => s.takesCookieHolders());
          for (const state of BACKEND_STATES) this.set({ proxy: b.name, state }, (state === 'UP') === up ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'haproxy_backend_agg_server_status',
      help: "Backend's aggregated gauge of servers' status",
      labelNames: ['proxy', 'state'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        for (const b of backends()) {
          for (const state of SERVER_STATES) this.set({ proxy: b.name, state }, b.servers.filter((s) => s.state === state).length);
        }
      },
    });
    backendGauge('haproxy_backend_current_sessions', 'Number of current sessions on the frontend, backend or server', 'sum', (b) =>
      b.servers.reduce((n, s) => n + s.active, b.queued),
    );
    backendGauge('haproxy_backend_current_queue', 'Number of current queued connections', 'sum', (b) => b.queue.size);
    backendGauge(
      'haproxy_backend_active_servers',
      'Total number of active UP servers with a non-zero weight',
      'max',
      (b) => b.servers.filter((s) => s.takesNewClients()).length,
    );
    backendGauge(
      'haproxy_backend_weight',
      "Server's effective weight, or sum of active servers' effective weights for a backend",
      'max',
      (b) => b.servers.reduce((n, s) => n + (s.takesNewClients() ? s.effectiveWeight : 0), 0),
    );
    this.#backend = {
      requests: counter(
        'haproxy_backend_http_requests_total',
        'Total number of HTTP requests processed by this object since the worker process started',
        p,
      ),
      responses: counter('haproxy_backend_http_responses_total', 'Total number of HTTP responses, by status class', ['proxy', 'code']),
      sessions: counter('haproxy_backend_sessions_total', 'Total number of sessions since process started', p),
      bytesIn: counter('haproxy_backend_bytes_in_total', 'Total number of request bytes since process started', p),
      bytesOut: counter('haproxy_backend_bytes_out_total', 'Total number of response bytes since process started', p),
      connectionErrors: counter(
        'haproxy_backend_connection_errors_total',
        'Total number of failed connections to server since the worker process started',
        p,
      ),
      responseErrors: counter(
        'haproxy_backend_response_errors_total',
        'Total number of invalid responses since the worker process started',
        p,
      ),
      retries: counter(
        'haproxy_backend_retry_warnings_total',
        'Total number of server connection retries since the worker process started',
        p,
      ),
      redispatches: counter(
        'haproxy_backend_redispatch_warnings_total',
        'Total number of server redispatches due to connection failures since the worker process started',
        p,
      ),
      clientAborts: counter(
        'haproxy_backend_client_aborts_total',
        'Total number of requests or connections aborted by the client since the worker process started',
        p,
      ),
      serverAborts: counter(
        'haproxy_backend_server_aborts_total',
        'Total number of requests or connections aborted by the server since the worker process started',
        p,
      ),
      internalErrors: counter('haproxy_backend_internal_errors_total', 'Total number of internal errors since process started', p),
    };

    // ---- frontends ----
    this.#frontend = {
      status: new Gauge({
        name: 'haproxy_frontend_status',
        help: 'Current status of the service, per state label value.',
        labelNames: ['proxy', 'state'],
        registers,
        aggregator: 'max',
      }),
      currentSessions: new Gauge({
        name: 'haproxy_frontend_current_sessions',
        help: 'Number of current sessions on the frontend, backend or server',
        labelNames: p,
        registers,
      }),
      connections: counter(
        'haproxy_frontend_connections_total',
        'Total number of new connections accepted on this frontend since the worker process started',
        p,
      ),
      sessions: counter('haproxy_frontend_sessions_total', 'Total number of sessions since process started', p),
      requests: counter(
        'haproxy_frontend_http_requests_total',
        'Total number of HTTP requests processed by this object since the worker process started',
        p,
      ),
      responses: counter('haproxy_frontend_http_responses_total', 'Total number of HTTP responses, by status class', ['proxy', 'code']),
      bytesIn: counter('haproxy_frontend_bytes_in_total', 'Total number of request bytes since process started', p),
      bytesOut: counter('haproxy_frontend_bytes_out_total', 'Total number of response bytes since process started', p),
      requestErrors: counter('haproxy_frontend_request_errors_total', 'Total number of invalid requests since process started', p),
      intercepted: counter(
        'haproxy_frontend_intercepted_requests_total',
        'Total number of HTTP requests intercepted on the frontend (redirects) since the worker process started',
        p,
      ),
      internalErrors: counter('haproxy_frontend_internal_errors_total', 'Total number of internal errors since process started', p),
      deniedConnections: counter(
        'haproxy_frontend_denied_connections_total',
        'Total number of incoming connections blocked on a listener/frontend by a tcp-request connection rule since the worker process started',
        p,
      ),
      deniedRequests: counter('haproxy_frontend_denied_requests_total', 'Total number of denied requests since process started', p),
    };

    // ---- process ----
    this.#process = {
      currentConnections: new Gauge({ name: 'haproxy_process_current_connections', help: 'Number of active sessions', registers }),
      connections: new Counter({ name: 'haproxy_process_connections_total', help: 'Total number of created sessions', registers }),
      requests: new Counter({ name: 'haproxy_process_requests_total', help: 'Total number of requests (TCP or HTTP)', registers }),
    };
    this.#process.currentConnections.set(0);
  }

  /** Declares a backend's series at 0, as HAProxy shows them before any traffic. */
  addBackend(backend: Backend): void {
    const proxy = backend.name;
    const { responses: backendResponses, ...backendCounters } = this.#backend;
    for (const c of Object.values(backendCounters)) c.inc({ proxy }, 0);
    for (const code of CODE_CLASSES) backendResponses.inc({ proxy, code }, 0);
    const { responses, checkFailures, checkUpDown, ...serverCounters } = this.#server;
    for (const server of backend.servers) {
      const labels = { proxy, server: server.name };
      for (const c of Object.values(serverCounters)) c.inc(labels, 0);
      for (const code of CODE_CLASSES) responses.inc({ ...labels, code }, 0);
      // HAProxy has no check series for a server without checks.
      if (backend.config.check) {
        checkFailures.inc(labels, 0);
        checkUpDown.inc(labels, 0);
      }
    }
  }

  /** Declares a frontend's series at 0. */
  addFrontend(frontend: string): void {
    const proxy = frontend;
    const { status, currentSessions, responses, ...counters } = this.#frontend;
    // Doorman's frontends are up for as long as the process runs.
    status.set({ proxy, state: 'UP' }, 1);
    status.set({ proxy, state: 'DOWN' }, 0);
    currentSessions.inc({ proxy }, 0);
    for (const c of Object.values(counters)) c.inc({ proxy }, 0);
    for (const code of CODE_CLASSES) responses.inc({ proxy, code }, 0);
  }

  frontendConnection(frontend: string, delta: 1 | -1): void {
    this.#frontend.currentSessions.inc({ proxy: frontend }, delta);
    this.#process.currentConnections.inc(delta);
    if (delta === 1) {
      this.#frontend.connections.inc({ proxy: frontend });
      this.#frontend.sessions.inc({ proxy: frontend });
      this.#process.connections.inc();
    }
  }

  /** A connection refused at accept by the frontend's limits (deny list, connections per client). */
  deniedConnection(frontend: string): void {
    this.#frontend.deniedConnections.inc({ proxy: frontend });
  }

  /** A request the listener could not parse (answered 400/408/431 there). */
  requestError(frontend: string): void {
    this.#frontend.requestErrors.inc({ proxy: frontend });
  }

  checkDone(backend: string, server: string, ok: boolean): void {
    if (!ok) this.#server.checkFailures.inc({ proxy: backend, server });
  }

  transition(backend: string, server: string, to: 'UP' | 'DOWN'): void {
    if (to === 'DOWN') this.#server.checkUpDown.inc({ proxy: backend, server });
  }

  attemptDone(server: UpstreamServer, failure: UpstreamError | null): void {
    if (!failure) return;
    const connection = CONNECTION_FAILURES.has(failure.code);
    const labels = { proxy: server.backendName, server: server.name };
    (connection ? this.#server.connectionErrors : this.#server.responseErrors).inc(labels);
    (connection ? this.#backend.connectionErrors : this.#backend.responseErrors).inc({ proxy: server.backendName });
  }

  requestDone(r: AccessRecord): void {
    const code = r.status > 0 ? codeClass(r.status) : null;
    this.#process.requests.inc();
    const fe = { proxy: r.frontend };
    const frontend = this.#frontend;
    frontend.requests.inc(fe);
    if (code) frontend.responses.inc({ proxy: r.frontend, code });
    if (r.bytesIn > 0) frontend.bytesIn.inc(fe, r.bytesIn);
    if (r.bytesOut > 0) frontend.bytesOut.inc(fe, r.bytesOut);
    if (r.termination === 'bad-request') frontend.requestErrors.inc(fe);
    if (r.termination === 'redirect' || r.termination === 'local') frontend.intercepted.inc(fe);
    if (r.termination === 'internal-error') frontend.internalErrors.inc(fe);
    if (r.termination === 'rate-limited') frontend.deniedRequests.inc(fe);
    // A redirect has no backend; a malformed request never reached its backend.
    if (r.backend === '' || r.termination === 'bad-request') return;

    const be = { proxy: r.backend };
    const backend = this.#backend;
    backend.requests.inc(be);
    backend.sessions.inc(be);
    if (code) backend.responses.inc({ proxy: r.backend, code });
    if (r.bytesIn > 0) backend.bytesIn.inc(be, r.bytesIn);
    if (r.bytesOut > 0) backend.bytesOut.inc(be, r.bytesOut);
    if (r.retries > 0) backend.retries.inc(be, r.retries);
    if (r.redispatched) backend.redispatches.inc(be);
    if (r.termination === 'client-aborted') backend.clientAborts.inc(be);
    if (r.termination === 'server-aborted') backend.serverAborts.inc(be);
    if (r.termination === 'internal-error') backend.internalErrors.inc(be);
    if (r.server === '') return;

    const sv = { proxy: r.backend, server: r.server };
    const server = this.#server;
    server.sessions.inc(sv);
    if (code) server.responses.inc({ proxy: r.backend, server: r.server, code });
    if (r.bytesIn > 0) server.bytesIn.inc(sv, r.bytesIn);
    if (r.bytesOut > 0) server.bytesOut.inc(sv, r.bytesOut);
    if (r.termination === 'client-aborted') server.clientAborts.inc(sv);
    if (r.termination === 'server-aborted') server.serverAborts.inc(sv);
  }
}
