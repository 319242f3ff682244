// The observers of every exchange, in one fan-out: who hears of an attempt (passive
// health, metrics) and of a finished request (access log, frontend counts, metrics),
// and the count of requests in flight that a graceful shutdown waits for.
import type { UpstreamServer } from '../backend/server.js';
import type { UpstreamError } from '../errors.js';
import type { AccessRecord } from './access-record.js';
import type { ExchangeObserver } from './exchange.js';

type AttemptObserver = Pick<ExchangeObserver, 'attemptDone'>;
type RequestObserver = Pick<ExchangeObserver, 'requestDone'>;

export class RequestObservers implements ExchangeObserver {
  readonly #attempts: readonly AttemptObserver[];
  readonly #requests: readonly RequestObserver[];
  #inFlight = 0;
  #idle: (() => void) | undefined;

  constructor(attempts: readonly AttemptObserver[], requests: readonly RequestObserver[]) {
    this.#attempts = attempts;
    this.#requests = requests;
  }

  /** Requests started and not finished yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  requestStarted(): void {
    this.#inFlight += 1;
  }

  attemptDone(server: UpstreamServer, failure: UpstreamError | null, status: number): void {
    for (const o of this.#attempts) o.attemptDone(server, failure, status);
  }

  requestDone(record: AccessRecord): void {
    this.#inFlight -= 1;
    for (const o of this.#requests) o.requestDone(record);
    if (this.#inFlight === 0) this.#idle?.();
  }

  /** Resolves when nothing is in flight, or after `timeoutMs`. */
  idle(timeoutMs: number): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#idle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/** Request ids unique across processes (the pid) and reloads (one sequence per process). */
export function createRequestIds(pid: number = process.pid): () => string {
  const prefix = `${pid.toString(36)}-`;
  let sequence = 0;
  return () => `${prefix}${(++sequence).toString(36)}`;
}
