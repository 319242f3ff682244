// The HTTP/1.1 front for `Upgrade: websocket`: node:http hands over the raw socket, and
// the exchange runs as for any request. A 101 joins the two sockets into a tunnel;
// any other answer is relayed as an ordinary response and the connection closed.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex, Readable } from 'node:stream';
import { LbError } from '../errors.js';
import type { Downstream } from '../exchange/downstream.js';
import { Exchange } from '../exchange/exchange.js';
import type { Http1FrontOptions } from './request-front.js';
import { refusal, requestHeadOf } from './request-front.js';
import { rawResponseHead } from './responses.js';

/** A Downstream that writes HTTP/1.1 by hand on the client socket node:http gave up. */
class SocketDownstream implements Downstream {
  readonly #client: Duplex;
  /** Bytes the client sent after its head, before the tunnel existed. */
  readonly #early: Buffer;
  readonly #idleMs: number;
  readonly body: Readable | null = null;

  constructor(client: Duplex, early: Buffer, idleMs: number) {
    this.#client = client;
    this.#early = early;
    this.#idleMs = idleMs;
  }

  onClose(listener: () => void): void {
    this.#client.once('close', listener);
  }

  bodyFlowing(): void {}

  respond(status: number, statusText: string, headers: readonly string[]): void {
    // Not upgraded: this connection ends with this answer.
    this.#client.write(rawResponseHead(status, statusText, headers, 'Connection: close\r\n'));
  }

  write(chunk: Buffer): boolean {
    return this.#client.write(chunk);
  }

  onDrain(listener: () => void): void {
    this.#client.on('drain', listener);
  }

  end(last?: string): void {
    this.#client.end(last);
  }

  abort(): void {
    this.#client.destroy();
  }

  tunnel(status: number, headers: readonly string[], upstreamDuplex: Duplex, done: (fromClient: number, toClient: number) => void): void {
    const client = this.#client as Socket;
    const upstream = upstreamDuplex as Socket;
    let fromClient = 0;
    let toClient = 0;
    upstream.on('data', (chunk: Buffer) => (toClient += chunk.length));
    client.on('data', (chunk: Buffer) => (fromClient += chunk.length));
    client.write(rawResponseHead(status, 'Switching Protocols', headers, 'Connection: Upgrade\r\nUpgrade: websocket\r\n'));
    if (this.#early.length > 0) upstream.write(this.#early);
    let closed = false;
    const close = () => {
      client.destroy();
      upstream.destroy();
      if (closed) return;
      closed = true;
      done(fromClient, toClient);
    };
    // Idle tunnels obey timeouts.client on either side.
    for (const socket of [client, upstream]) {
      socket.setTimeout(this.#idleMs, close);
      socket.on('error', close);
      socket.on('close', close);
    }
    upstream.pipe(client);
    client.pipe(upstream);
  }
}

/** Builds the `upgrade` listener of one frontend. */
export function createUpgradeFront(options: Http1FrontOptions): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { exchange: ctx, clientTimeoutMs, requestId } = options;
  return function handleUpgrade(req, client, early) {
    client.on('error', () => client.destroy());
    const head = requestHeadOf(req, 'websocket');
    const exchange = new Exchange(head, new SocketDownstream(client, early, clientTimeoutMs), ctx, requestId());
    const refused =
      req.headers.upgrade?.trim().toLowerCase() !== 'websocket' || req.method !== 'GET'
        ? new LbError('LB_ERR_BAD_REQUEST', 'not a websocket upgrade')
        : refusal(req, head);
    if (refused) exchange.reject(refused);
    else exchange.start();
  };
}
