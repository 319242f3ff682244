// A WebSocket tunnel after a 101: the client's connection and the server's socket joined
// byte for byte, the bytes the client sent after its head delivered first, an idle limit
// on both sides, and one `done` with the byte counts when either side closes.
import type { Socket } from 'node:net';

/** Joins `client` and `upstream`; `early` are client bytes read past the request head. */
export function joinTunnel(
  client: Socket,
  head: string,
  early: Buffer | null,
  upstream: Socket,
  idleMs: number,
  done: (fromClient: number, toClient: number) => void,
): void {
  let fromClient = early === null ? 0 : early.length;
  let toClient = 0;
  let closed = false;
  const close = () => {
    client.destroy();
    upstream.destroy();
    if (closed) return;
    closed = true;
    done(fromClient, toClient);
  };
  if (client.destroyed) {
    close();
    return;
  }
  upstream.on('data', (chunk: Buffer) => (toClient += chunk.length));
  client.on('data', (chunk: Buffer) => (fromClient += chunk.length));
  client.write(head, 'latin1');
  // Idle tunnels obey timeouts.client on either side.
  for (const socket of [client, upstream]) {
    socket.setTimeout(idleMs, close);
    socket.on('error', close);
    socket.on('close', close);
  }
  upstream.pipe(client);
  client.pipe(upstream);
  if (early !== null && early.length > 0) upstream.write(early);
  client.resume();
}
