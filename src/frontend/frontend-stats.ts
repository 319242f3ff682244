// Live counts per frontend for /api/state and the stats page: connections open now,
// requests finished and 5xx answers since start. Plain numbers read synchronously,
// unlike the Prometheus gauges, so a view never waits on a scrape.
import type { FrontendConfig } from '../config/types.js';
import type { AccessRecord } from '../exchange/access-record.js';
import { formatHostPort } from '../config/host-port.js';

/** A frontend as /api/state shows it. */
export interface FrontendView {
  readonly name: string;
  /** Where it listens, e.g. `0.0.0.0:8443`; the real port once bound (a configured port 0 included). */
  readonly bind: string;
  readonly tls: boolean;
  /** The backend it sends requests to, null for a redirecting frontend. */
  readonly backend: string | null;
  readonly redirect: 'https' | null;
  /** Client connections open now. */
  readonly connections: number;
  /** Requests finished since start, whatever their status. */
  readonly requests: number;
  /** Of those, answered with a status of 500 or more (Doorman's own 502/503/504 included). */
  readonly errors: number;
  /** The frontend's routes with their hit counts (added by the load balancer, which routes). */
  readonly routes?: readonly { readonly name: string; readonly hits: number }[];
}

interface Counts {
  port: number;
  connections: number;
  requests: number;
  errors: number;
}

/** The counters of every frontend, fed by the listeners and by finished requests. */
export class FrontendStats {
  #configs: readonly FrontendConfig[] = [];
  #counts = new Map<string, Counts>();

  constructor(configs: readonly FrontendConfig[]) {
    this.setConfigs(configs);
  }

  /** A reload's frontends: kept names keep their counts, new ones start at 0. */
  setConfigs(configs: readonly FrontendConfig[]): void {
    const counts = new Map<string, Counts>();
    for (const config of configs)
      counts.set(config.name, this.#counts.get(config.name) ?? { port: config.bind.port, connections: 0, requests: 0, errors: 0 });
    this.#configs = configs;
    this.#counts = counts;
  }

  /** Client connections open now on `frontend` (HAProxy's feconn). */
  connections(frontend: string): number {
    return this.#counts.get(frontend)?.connections ?? 0;
  }

  /** The frontend is bound to `port`. */
  listening(frontend: string, port: number): void {
    const counts = this.#counts.get(frontend);
    if (counts) counts.port = port;
  }

  /** A client connection opened (+1) or closed (-1) on `frontend`. */
  connection(frontend: string, delta: 1 | -1): void {
    const counts = this.#counts.get(frontend);
    if (counts) counts.connections += delta;
  }

  /** A request finished; fed from the same place as the access log. */
  requestDone(record: AccessRecord): void {
    const counts = this.#counts.get(record.frontend);
    if (!counts) return;
    counts.requests += 1;
    if (record.status >= 500) counts.errors += 1;
  }

  /** Every frontend, in config order. */
  view(): FrontendView[] {
    return this.#configs.map((config) => {
      const { port, connections, requests, errors } = this.#counts.get(config.name)!;
      return {
        name: config.name,
        bind: formatHostPort({ host: config.bind.host, port }),
        tls: config.tls !== null,
        backend: config.backend,
        redirect: config.redirect,
        connections,
        requests,
        errors,
      };
    });
  }
}
