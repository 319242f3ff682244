// Short text/plain answers the balancer itself gives: errors and redirects.
import type { ServerResponse } from 'node:http';
import { STATUS_CODES } from 'node:http';

/** Answers `status` with a one-line text body, or aborts a response already started. */
export function sendError(res: ServerResponse, status: number, closeConnection = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `${status} ${STATUS_CODES[status] ?? 'Error'}\n`;
  if (closeConnection) res.shouldKeepAlive = false;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** The raw HTTP/1.1 error answer for a connection whose request could not be parsed. */
export function rawErrorResponse(status: number): string {
  const body = `${status} ${STATUS_CODES[status] ?? 'Error'}\n`;
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\nConnection: close\r\n\r\n' +
    body
  );
}

/** 308 to the same host and path on the https frontend's port. */
export function sendRedirect(res: ServerResponse, host: string, httpsPort: number, url: string): void {
  const hostname = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
  const location = `https://${hostname}${httpsPort === 443 ? '' : `:${httpsPort}`}${url}`;
  const body = `Redirecting to ${location}\n`;
  res.writeHead(308, {
    location,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}
