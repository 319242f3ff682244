// Every backend of the running config, by name: built from the config, reconciled on
// reload (kept servers keep their state), and the one place to listen to changes of
// any server, present or added later.
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import type { Backend } from './backend.js';
import { reconcileBackends } from './reconcile.js';
import type { ServerChangeListener, UpstreamServer } from './server.js';

export class BackendSet {
  #backends: Map<string, Backend>;
  readonly #logger: Logger;
  readonly #listeners: ServerChangeListener[] = [];
  readonly #watched = new WeakSet<UpstreamServer>();

  constructor(config: Config, logger: Logger) {
    this.#logger = logger;
    this.#backends = reconcileBackends(new Map(), config).backends;
    this.#watchServers();
  }

  get(name: string): Backend | undefined {
    return this.#backends.get(name);
  }

  values(): IterableIterator<Backend> {
    return this.#backends.values();
  }

  /** The backends by name (replaced by each reload). */
  get map(): ReadonlyMap<string, Backend> {
    return this.#backends;
  }

  /** Every server of every backend. */
  *servers(): Generator<UpstreamServer> {
    for (const backend of this.#backends.values()) yield* backend.servers;
  }

  /** Listens to every server's change event, servers a later reload adds included. */
  onServerChange(listener: ServerChangeListener): void {
    this.#listeners.push(listener);
  }

  /** Applies a reloaded config; servers it removed take nothing new and close once their requests finish. */
  apply(config: Config): void {
    const { backends, retired } = reconcileBackends(this.#backends, config);
    this.#backends = backends;
    this.#watchServers();
    for (const server of retired) {
      server.close().catch(() => {});
      this.#logger.info({ backend: server.backendName, server: server.name }, 'server removed: draining');
    }
  }

  /** Destroys every connection to every server. */
  async destroy(): Promise<void> {
    await Promise.all([...this.servers()].map((s) => s.destroy()));
  }

  #watchServers(): void {
    for (const server of this.servers()) {
      if (this.#watched.has(server)) continue;
      this.#watched.add(server);
      server.onChange((changed, kind) => {
        for (const listener of this.#listeners) listener(changed, kind);
      });
    }
  }
}
