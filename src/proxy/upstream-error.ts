// Classifies an error from an upstream connection or exchange, for the status a
// client gets, the retry decision, the access log and the health checker.
import { LbError } from '../errors.js';
import type { Termination } from './access-record.js';

/**
 * - `connect`: the TCP connection failed (refused, unreachable, reset during the handshake).
 * - `tls`: the server's certificate failed verification (chain, name, expiry, pin) or the handshake failed.
 * - `connect-timeout`: TCP + TLS took longer than timeouts.connect.
 * - `timeout`: the server was silent longer than timeouts.server.
 * - `closed`: the connection died after the request was (partly) written.
 * - `protocol`: the server sent a malformed response.
 */
export type UpstreamFailure = 'connect' | 'tls' | 'connect-timeout' | 'timeout' | 'closed' | 'protocol';

export interface ClassifiedError {
  readonly kind: UpstreamFailure;
  /** Short text for logs and the health checker, e.g. `tls: pin mismatch`, `connect: ECONNREFUSED`. */
  readonly reason: string;
}

/** How a request ends when an upstream failure is its last word. */
export const TERMINATION_OF_FAILURE = {
  connect: 'connect-error',
  tls: 'tls-error',
  'connect-timeout': 'connect-timeout',
  timeout: 'server-timeout',
  closed: 'server-error',
  protocol: 'bad-response',
} as const satisfies Record<UpstreamFailure, Termination>;

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

/** Maps any error from undici or the TLS layer onto one UpstreamFailure. */
export function classifyUpstreamError(err: unknown): ClassifiedError {
  const code = codeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'ERR_LB_PIN_MISMATCH') return { kind: 'tls', reason: 'tls: pin mismatch' };
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return { kind: 'connect-timeout', reason: 'connect: timeout' };
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return { kind: 'timeout', reason: 'server: timeout' };
  if (CONNECT_CODES.has(code)) return { kind: 'connect', reason: `connect: ${code}` };
  if (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || /CERT|SELF_SIGNED|UNABLE_TO|ISSUER/.test(code)) {
    return { kind: 'tls', reason: `tls: ${code}` };
  }
  if (code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code.startsWith('HPE_') || message === 'bad response' || message === 'bad upgrade') {
    return { kind: 'protocol', reason: `protocol: ${code || message}` };
  }
  if (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') {
    return { kind: 'closed', reason: `closed: ${message}` };
  }
  return { kind: 'protocol', reason: `error: ${code || message}` };
}

/** The LbError a client is answered with for an upstream failure. */
export function upstreamLbError(failure: ClassifiedError, cause: unknown): LbError {
  switch (failure.kind) {
    case 'tls':
      return new LbError('LB_ERR_UPSTREAM_TLS', failure.reason, { cause });
    case 'connect-timeout':
      return new LbError('LB_ERR_CONNECT_TIMEOUT', failure.reason, { cause });
    case 'timeout':
      return new LbError('LB_ERR_UPSTREAM_TIMEOUT', failure.reason, { cause });
    case 'connect':
    case 'closed':
    case 'protocol':
      return new LbError('LB_ERR_UPSTREAM', failure.reason, { cause });
  }
}
