// The retry decision, HAProxy's `retries N` + `retry-on conn-failure empty-response`.
import type { UpstreamErrorCode } from '../errors.js';

/** Where a failed attempt got to before it failed. */
export type AttemptPhase =
  /** No connection was handed the request: nothing was sent. */
  | 'connect'
  /** The request was (partly) written, no response byte arrived. */
  | 'sent';

export interface RetryQuestion {
  readonly phase: AttemptPhase;
  readonly failure: UpstreamErrorCode;
  readonly method: string;
  readonly hasBody: boolean;
  /** Retries already made for this request. */
  readonly retriesDone: number;
  readonly retriesAllowed: number;
}

const REPLAYABLE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A connect-phase failure is always safe to retry (the server saw nothing). After the
 * request was written, only a body-less GET, HEAD or OPTIONS whose connection died
 * before the first response byte is retried; a request body is never replayed.
 */
export function shouldRetry(q: RetryQuestion): boolean {
  if (q.retriesDone >= q.retriesAllowed) return false;
  if (q.phase === 'connect') return true;
  return q.failure === 'LB_ERR_UPSTREAM_CLOSED' && !q.hasBody && REPLAYABLE_METHODS.has(q.method);
}
