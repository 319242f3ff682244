// The IPC vocabulary between the primary and its workers, and the pieces both sides
// compute from it. Every message is plain JSON (cluster's default serialization).
import type { AcmeUpdate } from '../acme/serving-state.js';
import type { ServerStateUpdate } from '../backend/server.js';
import type { Config } from '../config/types.js';
import type { FrontendView } from '../frontend/frontend-stats.js';

export type { ServerStateUpdate } from '../backend/server.js';

/** What a worker holds of a server: in-flight, queued and counted requests. */
export interface ServerTraffic {
  readonly backend: string;
  readonly server: string;
  readonly active: number;
  readonly queued: number;
  readonly requests: number;
  readonly errors: number;
}

export interface WorkerTraffic {
  readonly frontends: readonly FrontendView[];
  readonly servers: readonly ServerTraffic[];
  readonly backendQueues: Readonly<Record<string, number>>;
}

/** Primary → worker. */
export type ToWorker =
  /** The config (first, or a reload) with the server states and ACME certificates and challenges; answered with its problems. */
  | {
      readonly type: 'config';
      readonly id: number;
      readonly config: Config;
      readonly ticketKeys: string;
      readonly states: readonly ServerStateUpdate[];
      readonly acme: readonly AcmeUpdate[];
    }
  /** An ACME certificate or challenge from the primary (the only process that talks to the CA); answered once applied. */
  | { readonly type: 'acme'; readonly id: number; readonly update: AcmeUpdate }
  | { readonly type: 'server-states'; readonly states: readonly ServerStateUpdate[] }
  | { readonly type: 'query'; readonly id: number; readonly what: 'metrics' | 'traffic' }
  | { readonly type: 'shutdown' };

/** Worker → primary. */
export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'listening'; readonly ports: Readonly<Record<string, number>> }
  | { readonly type: 'passive'; readonly outcomes: ReadonlyArray<readonly [key: string, ok: boolean]> }
  | { readonly type: 'answer'; readonly id: number; readonly value: unknown };

/**
 * Worker `slot`'s share of `config`: per-server and global `maxconn` divided among the
 * workers, the remainder going to the first slots, so together they hold exactly the
 * configured limits. A limit below the number of workers still gives each worker 1
 * (0 would mean "no limit").
 */
export function workerShare(config: Config, workers: number, slot: number): Config {
  const share = (limit: number) => (limit > 0 ? Math.max(1, Math.floor(limit / workers) + (slot < limit % workers ? 1 : 0)) : limit);
  return {
    ...config,
    maxconn: share(config.maxconn),
    backends: config.backends.map((backend) => ({
      ...backend,
      servers: backend.servers.map((server) => ({ ...server, maxconn: share(server.maxconn) })),
    })),
  };
}
