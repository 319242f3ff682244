// The answers Doorman gives itself, protocol-neutral: a short text/plain error body
// and the https redirect. A front turns them into bytes.
import { STATUS_CODES } from 'node:http';

export interface LocalResponse {
  readonly status: number;
  readonly headers: readonly string[];
  readonly body: string;
}

/** `502 Bad Gateway\n` as text/plain, never cached. */
export function errorResponse(status: number): LocalResponse {
  const body = `${status} ${STATUS_CODES[status] ?? 'Error'}\n`;
  return {
    status,
    headers: ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store'],
    body,
  };
}

/** 308 to the same host and path on the https frontend's port. */
export function httpsRedirect(host: string, httpsPort: number, target: string): LocalResponse {
  const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0] || 'localhost';
  const location = `https://${hostname}${httpsPort === 443 ? '' : `:${httpsPort}`}${target}`;
  const body = `Redirecting to ${location}\n`;
  return {
    status: 308,
    headers: ['location', location, 'content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body))],
    body,
  };
}

/** A route's redirect: `status` to `location`, with a one-line body. */
export function redirectResponse(status: number, location: string): LocalResponse {
  const body = `Redirecting to ${location}\n`;
  return {
    status,
    headers: ['location', location, 'content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body))],
    body,
  };
}

/** A route's own answer. */
export function fixedResponse(status: number, body: string, type: string): LocalResponse {
  return { status, headers: ['content-type', type, 'content-length', String(Buffer.byteLength(body))], body };
}
