// HTTP/1.1 bytes for answers written straight to a socket: parse errors (no request
// object exists) and the answers on an upgrade connection.
import { STATUS_CODES } from 'node:http';
import { errorResponse, type LocalResponse } from '../../exchange/local-response.js';

/** A response head as raw bytes; `extra` is appended verbatim (already CRLF-terminated lines). */
export function rawResponseHead(status: number, statusText: string, headers: readonly string[], extra: string): string {
  let head = `HTTP/1.1 ${status} ${statusText || STATUS_CODES[status] || ''}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}${extra}\r\n`;
}

/**
 * The raw HTTP/1.1 error answer for a connection whose request could not be parsed (the
 * operator's page when there is one, and HSTS when the frontend sends it); it closes the
 * connection.
 */
export function rawErrorResponse(status: number, page?: LocalResponse | null, hsts?: string | null): string {
  const { headers, body } = page ?? errorResponse(status);
  const extra = hsts ? `Strict-Transport-Security: ${hsts}\r\nConnection: close\r\n` : 'Connection: close\r\n';
  return rawResponseHead(status, '', headers, extra) + body;
}
