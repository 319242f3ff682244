// The files operators serve instead of Doorman's one-line error bodies, read when a
// config is applied (start and reload), never per request.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import type { Config, ErrorPagesConfig } from '../config/types.js';
import type { LocalResponse } from './local-response.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

function load(pages: ErrorPagesConfig): Map<number, LocalResponse> {
  const loaded = new Map<number, LocalResponse>();
  for (const [status, file] of Object.entries(pages)) {
    const body = readFileSync(file, 'utf8');
    const type = TYPES[extname(file).toLowerCase()] ?? 'text/plain; charset=utf-8';
    loaded.set(Number(status), {
      status: Number(status),
      headers: ['content-type', type, 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store'],
      body,
    });
  }
  return loaded;
}

/** Every frontend's and backend's pages of one config. */
export class ErrorPages {
  readonly #frontends = new Map<string, Map<number, LocalResponse>>();
  readonly #backends = new Map<string, Map<number, LocalResponse>>();

  /** Reads every page `config` names; throws (before anything uses them) when one cannot be read. */
  constructor(config: Config) {
    for (const frontend of config.frontends) this.#frontends.set(frontend.name, load(frontend.errorPages));
    for (const backend of config.backends) this.#backends.set(backend.name, load(backend.errorPages));
  }

  /** The page for `status`: the backend's when it has one, else the frontend's, else null. */
  response(status: number, frontend: string, backend: string | null): LocalResponse | null {
    return (backend !== null ? this.#backends.get(backend)?.get(status) : undefined) ?? this.#frontends.get(frontend)?.get(status) ?? null;
  }
}
