// Classifies any error met on the way to a server (node:net, node:tls, node:http2, our own
// pin check) into one upstream code of the error table, with a short reason for logs
// and the health checker (`tls: pin mismatch`, `connect: ECONNREFUSED`).
import { LbError, type LbErrorCode, type UpstreamError, type UpstreamErrorCode } from '../errors.js';

/** node:http2's ways of saying the stream or session ended early. */
const HTTP2_CLOSED = new Set([
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_SESSION_ERROR',
  'ERR_HTTP2_GOAWAY_SESSION',
  'ERR_HTTP2_STREAM_CANCEL',
  'ERR_HTTP2_INVALID_SESSION',
]);
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN']);
const UPSTREAM_CODES = new Set<LbErrorCode>([
  'LB_ERR_CONNECT',
  'LB_ERR_CONNECT_TIMEOUT',
  'LB_ERR_UPSTREAM_TLS',
  'LB_ERR_UPSTREAM_CLOSED',
  'LB_ERR_BAD_RESPONSE',
  'LB_ERR_UPSTREAM_TIMEOUT',
]);

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : '';
}

function upstream(code: UpstreamErrorCode, reason: string, cause: unknown): UpstreamError {
  return new LbError(code, reason, { cause });
}

/** True when `err` is already one of the upstream codes (e.g. our pin check, or an exchange's own abort). */
export function isUpstreamError(err: unknown): err is UpstreamError {
  // `instanceof` alone types the code as `any`.
  return err instanceof LbError && UPSTREAM_CODES.has((err as LbError).code);
}

/** Maps any error from the TCP, TLS or HTTP/2 layer onto one upstream code. */
export function classifyUpstreamError(err: unknown): UpstreamError {
  if (isUpstreamError(err)) return err;
  const code = codeOf(err);
  const message = err instanceof Error ? err.message : String(err);
  if (CONNECT_CODES.has(code)) return upstream('LB_ERR_CONNECT', `connect: ${code}`, err);
  if (code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_') || /CERT|SELF_SIGNED|UNABLE_TO|ISSUER/.test(code)) {
    return upstream('LB_ERR_UPSTREAM_TLS', `tls: ${code}`, err);
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || HTTP2_CLOSED.has(code)) {
    return upstream('LB_ERR_UPSTREAM_CLOSED', `closed: ${message}`, err);
  }
  return upstream('LB_ERR_BAD_RESPONSE', `error: ${code || message}`, err);
}
