// The client-side idle limit for request bodies.
import type { IncomingMessage } from 'node:http';

/**
 * While a request body is being forwarded, a client that sends nothing for
 * `idleMs` loses its connection. Progress is read from the socket's byte count, so
 * neither the body stream nor the socket's own timer (Node's keep-alive timeout) is
 * touched. Returns the function that stops watching.
 */
export function watchBodyProgress(req: IncomingMessage, idleMs: number): () => void {
  const socket = req.socket;
  let seen = socket.bytesRead;
  const timer = setInterval(() => {
    if (req.complete || socket.destroyed) return stop();
    // Paused by backpressure from the server: not the client's fault.
    if (req.isPaused() || req.readableLength > 0) return;
    if (socket.bytesRead === seen) {
      socket.destroy();
      return stop();
    }
    seen = socket.bytesRead;
  }, idleMs);
  timer.unref();
  function stop() {
    clearInterval(timer);
    req.off('end', stop);
    req.off('close', stop);
  }
  req.once('end', stop);
  req.once('close', stop);
  return stop;
}
