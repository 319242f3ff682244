// Operator actions on servers (READY / DRAIN / MAINT, weight), the JSON view of the
// servers for /api/state, and the state file, which follows every operator change
// through the servers' change event.
import type { Logger } from 'pino';
import type { BackendSet } from '../../backend/backend-set.js';
import type { Backend } from '../../backend/backend.js';
import type { AdminState, UpstreamServer } from '../../backend/server.js';
import { formatHostPort } from '../../config/host-port.js';
import { serverKey } from '../../health/server-health.js';
import type { SavedServerState, SavedState, StateFileWriter } from './state-file.js';

/** A server as /api/state shows it. */
export interface ServerView {
  readonly name: string;
  readonly address: string;
  readonly state: 'UP' | 'DOWN' | 'DRAIN' | 'MAINT';
  readonly adminState: AdminState;
  readonly health: string;
  /** HAProxy's health counter, 0 .. rise+fall-1 (UP from rise on); null without active checks. */
  readonly healthCounter: number | null;
  readonly active: number;
  readonly queued: number;
  readonly weight: number;
  /** The weight balancing uses now: below `weight` while slow start ramps the server up (2 decimals). */
  readonly effectiveWeight: number;
  readonly maxconn: number;
  readonly lastCheck: { status: 'ok' | 'failed'; code: number | null; durationMs: number; reason: string; at: string } | null;
  readonly lastChange: string;
  readonly requests: number;
  readonly errors: number;
}

export interface BackendView {
  readonly name: string;
  readonly balance: string;
  readonly queued: number;
  /** The active check's settings, null when the backend has none: the page shows "going down 1/3" from these and `healthCounter`. */
  readonly check: {
    readonly path: string;
    readonly intervalMs: number;
    readonly timeoutMs: number;
    readonly rise: number;
    readonly fall: number;
  } | null;
  readonly servers: readonly ServerView[];
}

/** The JSON view of one server. */
export function viewServer(server: UpstreamServer): ServerView {
  const check = server.lastCheck;
  return {
    name: server.name,
    address: formatHostPort(server.config.address),
    state: server.state,
    adminState: server.adminState,
    health: server.healthDescription,
    healthCounter: server.healthCounter,
    active: server.active,
    queued: server.queue.size,
    weight: server.weight,
    effectiveWeight: Math.round(server.effectiveWeight * 100) / 100,
    maxconn: server.config.maxconn,
    lastCheck: check
      ? {
          status: check.ok ? 'ok' : 'failed',
          code: check.code,
          durationMs: check.durationMs,
          reason: check.reason,
          at: new Date(check.at).toISOString(),
        }
      : null,
    lastChange: new Date(server.lastChangeAt).toISOString(),
    requests: server.requests,
    errors: server.errors,
  };
}

/** Applies operator changes to live servers; the state file follows them. */
export class ServerControl {
  readonly #backends: BackendSet;
  #writer: StateFileWriter | null;
  readonly #logger: Logger;
  /** The latest state-file write, which an API answer waits for. */
  #saved: Promise<void> = Promise.resolve();

  constructor(backends: BackendSet, writer: StateFileWriter | null, logger: Logger) {
    this.#backends = backends;
    this.#writer = writer;
    this.#logger = logger;
    backends.onServerChange((_server, kind) => {
      if (kind === 'admin' || kind === 'weight') this.#saved = this.save();
    });
  }

  /** A reload moved the state file: the current state goes to the new one. */
  async useStateFile(writer: StateFileWriter | null): Promise<void> {
    this.#writer = writer;
    await this.save();
  }

  /** Writes the current operator state to the state file, if any. */
  async save(): Promise<void> {
    await this.#writer?.save(this.snapshot());
  }

  /** The whole state, for /api/state. */
  view(): { backends: BackendView[] } {
    return {
      backends: [...this.#backends.values()].map((b) => ({
        name: b.name,
        balance: b.config.balance,
        queued: b.queue.size,
        check: b.config.check && {
          path: b.config.check.path,
          intervalMs: b.config.check.intervalMs,
          timeoutMs: b.config.check.timeoutMs,
          rise: b.config.check.rise,
          fall: b.config.check.fall,
        },
        servers: b.servers.map(viewServer),
      })),
    };
  }

  find(backendName: string, serverName: string): { backend: Backend; server: UpstreamServer } | undefined {
    const backend = this.#backends.get(backendName);
    const server = backend?.server(serverName);
    return backend && server ? { backend, server } : undefined;
  }

  /** Sets a server's operator state; undefined when no such server. */
  async setState(backendName: string, serverName: string, state: AdminState): Promise<ServerView | undefined> {
    return this.#change(backendName, serverName, (server) => server.setAdminState(state));
  }

  /** Sets a server's weight (0..256); undefined when no such server. */
  async setWeight(backendName: string, serverName: string, weight: number): Promise<ServerView | undefined> {
    return this.#change(backendName, serverName, (server) => server.setWeight(weight));
  }

  /** Applies a saved state at start; unknown servers in the file are ignored. */
  restore(saved: SavedState): void {
    for (const [key, value] of saved) {
      const [backendName, serverName] = key.split('/') as [string, string];
      const server = this.find(backendName, serverName)?.server;
      if (!server) continue;
      server.setAdminState(value.state);
      server.setWeight(value.weight, value.weight !== server.config.weight);
    }
  }

  /** The operator state of every server, as the state file holds it. */
  snapshot(): SavedState {
    const state = new Map<string, SavedServerState>();
    for (const server of this.#backends.servers())
      state.set(serverKey(server.backendName, server.name), { state: server.adminState, weight: server.weight });
    return state;
  }

  async #change(backendName: string, serverName: string, apply: (server: UpstreamServer) => void): Promise<ServerView | undefined> {
    const server = this.find(backendName, serverName)?.server;
    if (!server) return undefined;
    const before = { state: server.adminState, weight: server.weight };
    apply(server);
    this.#logger.warn(
      { backend: backendName, server: server.name, from: before, to: { state: server.adminState, weight: server.weight } },
      `server ${backendName}/${server.name} set to ${server.adminState} weight ${server.weight}`,
    );
    await this.#saved;
    return viewServer(server);
  }
}
