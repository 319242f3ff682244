// What one finished exchange leaves behind: the access log line (JSON or HAProxy's
// httplog), metrics and the frontend counts are all made from this record.
import type { Termination } from '../errors.js';

/** HAProxy's request-side cookie flags: none, invalid, down server, valid, expired. */
export type RequestCookieState = 'N' | 'I' | 'D' | 'V' | 'E';
/** HAProxy's response-side cookie flags: none, inserted, updated. */
export type ResponseCookieState = 'N' | 'I' | 'U';
/** HAProxy's '-': the backend has no persistence cookie, or the request never reached it. */
export type NoCookie = '-';

/** One finished request. Times are milliseconds, -1 when the phase was not reached. */
export interface AccessRecord {
  readonly reqId: string;
  readonly frontend: string;
  /** The route that matched ('' for the frontend's default). */
  readonly route: string;
  readonly backend: string;
  /** '' when no server was reached. */
  readonly server: string;
  readonly clientAddress: string;
  readonly clientPort: number;
  readonly method: string;
  readonly path: string;
  /** As the client sent it: `1.1`, `1.0`. */
  readonly httpVersion: string;
  /** 0 when no response was sent (client gone first). */
  readonly status: number;
  /** Response body bytes sent to the client. */
  readonly bytesOut: number;
  /** Request body bytes received from the client. */
  readonly bytesIn: number;
  /** Durations in milliseconds to the microsecond; -1 for a phase never reached. */
  readonly queueMs: number;
  readonly connectMs: number;
  readonly responseMs: number;
  readonly totalMs: number;
  /** Requests already waiting in the server's own queue when this one joined it (HAProxy's srv_queue). */
  readonly serverQueueAhead: number;
  /** Requests already waiting in the backend's queue when this one joined it (HAProxy's backend_queue). */
  readonly backendQueueAhead: number;
  readonly termination: Termination;
  readonly retries: number;
  readonly redispatched: boolean;
  readonly cookieIn: RequestCookieState | NoCookie;
  readonly cookieOut: ResponseCookieState | NoCookie;
  /** Short reason for a failure, e.g. `tls: pin mismatch`. */
  readonly error?: string | undefined;
}
