// Doorman's typed errors: one closed set of codes, each with the HTTP status a
// client sees when the error ends a request.

export const LB_ERROR_STATUS = {
  /** The config file could not be read, parsed or validated. */
  LB_ERR_CONFIG: 0,
  /** The request is malformed (duplicate Host, smuggling shapes, ...). */
  LB_ERR_BAD_REQUEST: 400,
  /** The client did not send its request headers within timeouts.client. */
  LB_ERR_REQUEST_TIMEOUT: 408,
  /** The request headers are larger than the parser accepts. */
  LB_ERR_HEADERS_TOO_LARGE: 431,
  /** No server of the backend can take a new request. */
  LB_ERR_NO_SERVER: 503,
  /** The request waited timeouts.queue for a free server slot. */
  LB_ERR_QUEUE_TIMEOUT: 503,
  /** The server could not be reached (refused, reset, bad response). */
  LB_ERR_UPSTREAM: 502,
  /** The server's certificate failed verification (CA, name or pin). */
  LB_ERR_UPSTREAM_TLS: 502,
  /** The TCP + TLS handshake to the server took longer than timeouts.connect. */
  LB_ERR_CONNECT_TIMEOUT: 504,
  /** The server was silent longer than timeouts.server. */
  LB_ERR_UPSTREAM_TIMEOUT: 504,
} as const;

export type LbErrorCode = keyof typeof LB_ERROR_STATUS;

/** An error Doorman raises on purpose; `status` is what the client is answered. */
export class LbError extends Error {
  readonly code: LbErrorCode;
  readonly status: number;

  constructor(code: LbErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LbError';
    this.code = code;
    this.status = LB_ERROR_STATUS[code];
  }
}

/** Every problem found in a config file, each as `path.to.key: message`. */
export class ConfigError extends LbError {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('LB_ERR_CONFIG', problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
