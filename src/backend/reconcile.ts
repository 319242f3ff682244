// Turns a config into the runtime backends, reusing what already runs: a backend or
// server that keeps its name keeps its object, and with it its queue, health,
// operator state, in-flight count and keep-alive connections.
import type { Config } from '../config/types.js';
import { Backend } from './backend.js';
import { UpstreamServer } from './server.js';

/** The backends for a config, and the servers no longer in it (to drain and close). */
export interface Reconciled {
  readonly backends: Map<string, Backend>;
  readonly retired: readonly UpstreamServer[];
}

/** Builds `config`'s backends from `current` (empty at start). */
export function reconcileBackends(current: ReadonlyMap<string, Backend>, config: Config): Reconciled {
  const backends = new Map<string, Backend>();
  const retired: UpstreamServer[] = [];
  for (const backendConfig of config.backends) {
    const existing = current.get(backendConfig.name);
    const servers = backendConfig.servers.map((serverConfig, index) => {
      const server = existing?.server(serverConfig.name);
      if (!server) return new UpstreamServer(backendConfig.name, serverConfig, index, config.timeouts);
      server.reconfigure(serverConfig, index, config.timeouts);
      return server;
    });
    if (!existing) {
      backends.set(backendConfig.name, new Backend(backendConfig, servers, config.timeouts));
      continue;
    }
    const kept = new Set(servers);
    const removed = existing.servers.filter((s) => !kept.has(s));
    existing.reconfigure(backendConfig, servers, config.timeouts);
    for (const server of removed) retireFrom(server, retired);
    backends.set(backendConfig.name, existing);
  }
  for (const [name, backend] of current) {
    if (backends.has(name)) continue;
    for (const server of backend.servers) retireFrom(server, retired);
  }
  return { backends, retired };
}

/** Marks a server removed: it takes nothing new, its backend re-places its waiters; the caller closes it. */
function retireFrom(server: UpstreamServer, retired: UpstreamServer[]): void {
  server.retire();
  retired.push(server);
}
