// Reads a PROXY header off a freshly accepted socket, before TLS or HTTP sees a byte:
// bytes are taken until the parser decides, and whatever followed the header in the
// same read is put back in front of the stream (TLS and the HTTP/1.1 engine then read
// it as if nothing had happened).
import type { Socket } from 'node:net';
import { parseProxyHeader, type ProxyHeader, type ProxyHeaderErrorCode } from './parse.js';

/** Why no header was read: the parser's refusal, the deadline, or the peer leaving first. */
export type ProxyReadErrorCode = ProxyHeaderErrorCode | 'timeout' | 'closed';

export type ProxyReadResult =
  { readonly ok: true; readonly header: ProxyHeader } | { readonly ok: false; readonly code: ProxyReadErrorCode };

/**
 * Reads the header from `socket` (paused, nothing read yet) within `timeoutMs`, then
 * calls `done` once, the socket paused again with the client's first bytes unread. On
 * an error the socket is left as it is: the caller closes it.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number, done: (result: ProxyReadResult) => void): void {
  let received: Buffer | null = null;
  const finish = (result: ProxyReadResult, rest?: Buffer): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onGone);
    socket.off('close', onGone);
    socket.pause();
    // Back in front of the stream before anyone reads it.
    if (rest !== undefined && rest.length > 0) socket.unshift(rest);
    done(result);
  };
  const onData = (chunk: Buffer): void => {
    // The parser decides within MAX_HEADER_BYTES, so at most that plus one read is ever held.
    received = received === null ? chunk : Buffer.concat([received, chunk]);
    const result = parseProxyHeader(received);
    if (result.kind === 'error') finish({ ok: false, code: result.code });
    else if (result.kind === 'complete') finish({ ok: true, header: result.header }, received.subarray(result.length));
  };
  const onGone = (): void => finish({ ok: false, code: 'closed' });
  const timer = setTimeout(() => finish({ ok: false, code: 'timeout' }), timeoutMs);
  socket.on('data', onData);
  socket.once('end', onGone);
  socket.once('close', onGone);
  socket.resume();
}
