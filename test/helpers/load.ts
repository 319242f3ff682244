// A bounded request loop for tests that change things under traffic (reloads,
// worker restarts): a few concurrent clients, half on keep-alive connections, half
// on a new connection per request, until told to stop or a count or time limit.
import https from 'node:https';
import { request } from './client.js';

export interface LoadResult {
  readonly ok: number;
  /** Failed requests: a connection error or a non-2xx answer, with what went wrong. */
  readonly failures: string[];
  /** Answers by the backend named in `x-backend`. */
  readonly byBackend: Map<string, number>;
}

export interface LoadOptions {
  readonly port: number;
  readonly ca: string;
  readonly concurrency?: number;
  /** Stop after this many requests in all (bound). */
  readonly maxRequests?: number;
  /** Stop after this long (bound). */
  readonly maxMs?: number;
}

/** A running load loop: stop() ends it and resolves with the tally. */
export interface Load {
  readonly sent: () => number;
  stop(): Promise<LoadResult>;
}

export function startLoad(options: LoadOptions): Load {
  const { port, ca } = options;
  const maxRequests = options.maxRequests ?? 20_000;
  const deadline = Date.now() + (options.maxMs ?? 30_000);
  const failures: string[] = [];
  const byBackend = new Map<string, number>();
  let ok = 0;
  let sent = 0;
  let stopped = false;
  const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });

  async function client(index: number): Promise<void> {
    const agent = index % 2 === 0 ? keepAlive : false;
    while (!stopped && sent < maxRequests && Date.now() < deadline) {
      sent += 1;
      try {
        const reply = await request({ port, ca, agent, path: `/load/${index}`, timeoutMs: 5_000 });
        if (reply.status >= 200 && reply.status < 300) {
          ok += 1;
          const backend = String(reply.headers['x-backend'] ?? '?');
          byBackend.set(backend, (byBackend.get(backend) ?? 0) + 1);
        } else {
          failures.push(`status ${reply.status}: ${reply.body.trim()}`);
        }
      } catch (err) {
        failures.push(`${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`);
      }
    }
  }

  const clients = Array.from({ length: options.concurrency ?? 4 }, (_, i) => client(i));
  return {
    sent: () => sent,
    async stop() {
      stopped = true;
      await Promise.all(clients);
      keepAlive.destroy();
      return { ok, failures, byBackend };
    },
  };
}
