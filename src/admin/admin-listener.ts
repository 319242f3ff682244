// The admin listener's lifecycle: bind it, move it when a reload changes its bind
// (the old one answers what it holds, then closes), close it.
import type http from 'node:http';
import type { Logger } from 'pino';
import type { AdminConfig } from '../config/types.js';
import { createAdminServer, type AdminServerOptions } from './admin-server.js';

export class AdminListener {
  readonly #options: AdminServerOptions;
  readonly #logger: Logger;
  #server: http.Server | null = null;
  #bind: AdminConfig['bind'] | null = null;

  constructor(options: AdminServerOptions) {
    this.#options = options;
    this.#logger = options.logger;
  }

  /** The bound port, undefined when not listening. */
  get port(): number | undefined {
    const address = this.#server?.address();
    return address && typeof address === 'object' ? address.port : undefined;
  }

  /** Binds `config.bind` (nothing without admin config). */
  async listen(config: AdminConfig | null): Promise<void> {
    if (!config) return;
    const server = createAdminServer(this.#options);
    const { host, port } = config.bind;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
    this.#bind = config.bind;
    this.#logger.info({ admin: true, address: host, port: this.port }, 'admin listening');
  }

  /**
   * A reload: the token applies at once (it is read per request); a new bind opens a new
   * listener, and the old one closes once its requests (this reload's own) are answered.
   * Resolves with the problem met, if any.
   */
  async apply(config: AdminConfig | null): Promise<string[]> {
    if (JSON.stringify(config?.bind ?? null) === JSON.stringify(this.#bind)) return [];
    const old = this.#server;
    this.#server = null;
    this.#bind = null;
    const problems: string[] = [];
    try {
      await this.listen(config);
    } catch (err) {
      problems.push(`admin.bind: cannot listen: ${(err as Error).message}`);
    }
    if (old) {
      old.close();
      old.closeIdleConnections();
      // A keep-alive client (the one that asked for the reload) gets its answer, then goes.
      setTimeout(() => old.closeAllConnections(), 2_000).unref();
    }
    return problems;
  }

  async close(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server?.listening) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
