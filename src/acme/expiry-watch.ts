// One warning in the log when a certificate a frontend serves (file or ACME) has less
// than 14 days left: checked at start, at every reload and twice a day.
import type { Logger } from 'pino';
import type { CertificateView } from './inventory.js';

/** Warn this long before expiry. */
export const EXPIRY_WARNING_MS = 14 * 86_400_000;
const CHECK_EVERY_MS = 12 * 3_600_000;

export class ExpiryWatch {
  readonly #logger: Logger;
  readonly #views: () => readonly CertificateView[];
  /** Certificates already warned about (frontend, names, expiry): one line each. */
  readonly #warned = new Set<string>();
  #timer: NodeJS.Timeout | null = null;

  constructor(logger: Logger, views: () => readonly CertificateView[]) {
    this.#logger = logger;
    this.#views = views;
  }

  /** Checks now and every 12 hours until stop(). */
  start(): void {
    this.check();
    this.#timer ??= setInterval(() => this.check(), CHECK_EVERY_MS);
    this.#timer.unref();
  }

  check(now = Date.now()): void {
    for (const view of this.#views()) {
      if (view.notAfter === null) continue;
      const leftMs = Date.parse(view.notAfter) - now;
      const key = `${view.frontend}|${view.names.join(',')}|${view.notAfter}`;
      if (leftMs >= EXPIRY_WARNING_MS || this.#warned.has(key)) continue;
      this.#warned.add(key);
      const days = Math.floor(leftMs / 86_400_000);
      this.#logger.warn(
        { frontend: view.frontend, names: view.names, notAfter: view.notAfter, source: view.source, daysLeft: days },
        leftMs <= 0 ? 'certificate expired' : 'certificate expires in less than 14 days',
      );
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}
