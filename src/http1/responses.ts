// HTTP/1.1 bytes for answers written straight to a socket: parse errors (no request
// object exists) and the answers on an upgrade connection.
import { STATUS_CODES } from 'node:http';
import { errorResponse } from '../exchange/local-response.js';

/** A response head as raw bytes; `extra` is appended verbatim (already CRLF-terminated lines). */
export function rawResponseHead(status: number, statusText: string, headers: readonly string[], extra: string): string {
  let head = `HTTP/1.1 ${status} ${statusText || STATUS_CODES[status] || ''}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}${extra}\r\n`;
}

/** The raw HTTP/1.1 error answer for a connection whose request could not be parsed; it closes the connection. */
export function rawErrorResponse(status: number): string {
  const { headers, body } = errorResponse(status);
  return rawResponseHead(status, '', headers, 'Connection: close\r\n') + body;
}
