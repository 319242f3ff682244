// How a client connection ends: after the last answer is out (never cutting it), a
// second later when the process closes it while that answer still flushes, and the rule
// for keeping it after a response.
import type { Socket } from 'node:net';

function destroyLate(socket: Socket): void {
  socket.destroy();
}

/** Writes a last answer, when there is one, and closes the connection once it is out. */
export function closeAfterLastAnswer(socket: Socket, answer: string | null): void {
  if (socket.destroyed) return;
  if (answer !== null) socket.write(answer, 'latin1');
  socket.destroySoon();
}

/**
 * Closes the connection now; one already closing after its last answer is still
 * flushing it (a TLS socket's bytes may not have reached the kernel yet): it gets a
 * moment, then is cut.
 */
export function closeNow(socket: Socket, flushing: boolean): void {
  if (flushing && !socket.destroyed) setTimeout(destroyLate, 1000, socket).unref();
  else socket.destroy();
}

/**
 * True when the connection serves another request after a response: the response did
 * not ask to close, the request body was read to its end (else its end is unknown), no
 * drain asked to close, and a client that half-closed still has a request waiting.
 */
export function keepsConnection(
  responseCloses: boolean,
  bodyRead: boolean,
  draining: boolean,
  clientEnded: boolean,
  requestWaiting: boolean,
): boolean {
  return !responseCloses && bodyRead && !draining && (!clientEnded || requestWaiting);
}
