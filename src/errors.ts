// Doorman's one error table: every way a request (or the config) can fail, with the
// status the client is answered, the termination the access log and metrics record,
// and the words an operator reads. Responses, logs and metrics all read this table.

/** How a request ended, in words (HAProxy's termination state, spelled out). */
export type Termination =
  | 'normal'
  | 'redirect'
  /** A route's own answer (`respond`). */
  | 'local'
  | 'no-route'
  /** Refused by the frontend's per-client request rate. */
  | 'rate-limited'
  | 'bad-request'
  | 'client-timeout'
  | 'client-aborted'
  | 'no-server'
  | 'queue-timeout'
  | 'connect-error'
  | 'connect-timeout'
  | 'tls-error'
  | 'server-error'
  | 'bad-response'
  | 'server-timeout'
  | 'server-aborted'
  | 'internal-error';

interface ErrorEntry {
  /** What the client is answered; null when nobody can be answered (config, client gone, response already started). */
  readonly status: number | null;
  /** The access record's termination; null for errors that end no request. */
  readonly termination: Termination | null;
  /** One line for the README and the default message. */
  readonly message: string;
}

export const LB_ERRORS = {
  LB_ERR_CONFIG: { status: null, termination: null, message: 'the config file could not be read, parsed or validated' },
  LB_ERR_BAD_REQUEST: {
    status: 400,
    termination: 'bad-request',
    message: 'malformed request (duplicate Host, smuggling shapes, bad target)',
  },
  LB_ERR_REQUEST_TIMEOUT: { status: 408, termination: 'client-timeout', message: 'request headers not received within timeouts.client' },
  LB_ERR_HEADERS_TOO_LARGE: { status: 431, termination: 'bad-request', message: 'request headers larger than the parser accepts' },
  LB_ERR_NO_ROUTE: { status: 404, termination: 'no-route', message: 'no route matched and the frontend has no default backend' },
  LB_ERR_RATE_LIMITED: {
    status: 429,
    termination: 'rate-limited',
    message: "the client is over the frontend's limits.requestRate (Retry-After says when to come back)",
  },
  LB_ERR_CLIENT_ABORTED: {
    status: null,
    termination: 'client-aborted',
    message: 'the client closed its connection before the response ended',
  },
  LB_ERR_NO_SERVER: { status: 503, termination: 'no-server', message: 'no server of the backend can take a new request' },
  LB_ERR_QUEUE_TIMEOUT: { status: 503, termination: 'queue-timeout', message: 'the request waited timeouts.queue for a free server slot' },
  LB_ERR_CONNECT: {
    status: 502,
    termination: 'connect-error',
    message: 'the server could not be reached (refused, unreachable, reset during connect)',
  },
  LB_ERR_CONNECT_TIMEOUT: {
    status: 504,
    termination: 'connect-timeout',
    message: 'TCP + TLS to the server took longer than timeouts.connect',
  },
  LB_ERR_UPSTREAM_TLS: {
    status: 502,
    termination: 'tls-error',
    message: "the server's certificate failed verification (CA, name, expiry or pin)",
  },
  LB_ERR_UPSTREAM_CLOSED: { status: 502, termination: 'server-error', message: 'the server closed the connection before answering' },
  LB_ERR_BAD_RESPONSE: { status: 502, termination: 'bad-response', message: 'the server sent a malformed response' },
  LB_ERR_UPSTREAM_TIMEOUT: { status: 504, termination: 'server-timeout', message: 'the server was silent longer than timeouts.server' },
  LB_ERR_SERVER_ABORTED: {
    status: null,
    termination: 'server-aborted',
    message: 'the server failed after the response had started: the client connection is cut',
  },
  LB_ERR_INTERNAL: {
    status: 500,
    termination: 'internal-error',
    message: 'a bug in Doorman: logged, one request lost, the process keeps serving',
  },
} as const satisfies Record<string, ErrorEntry>;

export type LbErrorCode = keyof typeof LB_ERRORS;

/** The codes an attempt on a server can fail with: what retries, passive checks and metrics look at. */
export type UpstreamErrorCode =
  | 'LB_ERR_CONNECT'
  | 'LB_ERR_CONNECT_TIMEOUT'
  | 'LB_ERR_UPSTREAM_TLS'
  | 'LB_ERR_UPSTREAM_CLOSED'
  | 'LB_ERR_BAD_RESPONSE'
  | 'LB_ERR_UPSTREAM_TIMEOUT';

/** An error Doorman raises on purpose; `status` and `termination` come from the table. */
export class LbError<C extends LbErrorCode = LbErrorCode> extends Error {
  readonly code: C;
  readonly status: (typeof LB_ERRORS)[C]['status'];
  readonly termination: (typeof LB_ERRORS)[C]['termination'];

  /** `message` is the specific reason (`tls: pin mismatch`); the table's text when omitted. */
  constructor(code: C, message?: string, options?: { cause?: unknown }) {
    super(message ?? LB_ERRORS[code].message, options);
    this.name = 'LbError';
    this.code = code;
    this.status = LB_ERRORS[code].status;
    this.termination = LB_ERRORS[code].termination;
  }
}

/** A failed attempt on a server, classified. */
export type UpstreamError = LbError<UpstreamErrorCode>;

/** Every problem found in a config file, each as `path.to.key: message`. */
export class ConfigError extends LbError<'LB_ERR_CONFIG'> {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super('LB_ERR_CONFIG', problems.join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}
