// The access log as an exchange observer: one line per finished request, in the format
// the config in force asks for, with HAProxy's connection counts read at write time.
import type { Logger } from 'pino';
import type { BackendSet } from '../backend/backend-set.js';
import type { Backend } from '../backend/backend.js';
import type { Config } from '../config/types.js';
import type { AccessRecord } from '../exchange/access-record.js';
import type { ConnectionGate } from '../frontend/connection-gate.js';
import type { FrontendStats } from '../frontend/frontend-stats.js';
import { createAccessLog } from './access-log.js';

export interface AccessObserverOptions {
  readonly accessLogger: Logger;
  /** Writes one raw text line (HAProxy httplog) to the same destination as `accessLogger`. */
  readonly writeLine: (line: string) => void;
  readonly gate: ConnectionGate;
  readonly stats: FrontendStats;
  readonly backends: BackendSet;
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

/** Writes access lines; `configure` follows a reload's log.access and log.format. */
export class AccessObserver {
  readonly #options: AccessObserverOptions;
  #write: ((record: AccessRecord) => void) | null = null;

  constructor(config: Config, options: AccessObserverOptions) {
    this.#options = options;
    this.configure(config);
  }

  configure(config: Config): void {
    if (!config.log.access) {
      this.#write = null;
      return;
    }
    const { accessLogger, writeLine, gate, stats, backends } = this.#options;
    const tlsFrontends = new Set(config.frontends.filter((f) => f.tls !== null).map((f) => f.name));
    this.#write = createAccessLog({
      format: config.log.format,
      accessLogger,
      writeLine,
      context: (record) => ({
        tls: tlsFrontends.has(record.frontend),
        actconn: gate.open,
        feconn: stats.connections(record.frontend),
        ...backendCounts(backends.get(record.backend), record.server),
      }),
    });
  }

  requestDone(record: AccessRecord): void {
    this.#write?.(record);
  }
}
