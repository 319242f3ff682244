// What one finished request leaves behind: the access log line and metrics are both
// made from this record.

/** How a request ended, in words (the HAProxy termination state, spelled out). */
export type Termination =
  | 'normal'
  | 'redirect'
  | 'bad-request'
  | 'client-aborted'
  | 'no-server'
  | 'queue-timeout'
  | 'connect-error'
  | 'connect-timeout'
  | 'tls-error'
  | 'server-error'
  | 'server-timeout'
  | 'server-aborted'
  /** A bug of ours: answered 500 and logged. */
  | 'internal-error';

/** HAProxy's request-side cookie flags: none, invalid, down server, valid, expired. */
export type RequestCookieState = 'N' | 'I' | 'D' | 'V' | 'E';
/** HAProxy's response-side cookie flags: none, inserted, updated. */
export type ResponseCookieState = 'N' | 'I' | 'U';

/** One finished request. Times are milliseconds, -1 when the phase was not reached. */
export interface AccessRecord {
  readonly reqId: string;
  readonly frontend: string;
  readonly backend: string;
  /** '' when no server was reached. */
  readonly server: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  /** Response body bytes sent to the client. */
  readonly bytesOut: number;
  /** Request body bytes received from the client. */
  readonly bytesIn: number;
  readonly queueMs: number;
  readonly connectMs: number;
  readonly responseMs: number;
  readonly totalMs: number;
  readonly termination: Termination;
  readonly retries: number;
  readonly redispatched: boolean;
  readonly cookieIn: RequestCookieState;
  readonly cookieOut: ResponseCookieState;
  /** Short reason for a failure, e.g. `tls: pin mismatch`. */
  readonly error?: string | undefined;
}
