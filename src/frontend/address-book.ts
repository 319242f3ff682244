// The addresses a listener decided at accept, found again from the TLS socket that later
// wraps the accepted one (node:tls hands its callback only the TLS socket). A TCP
// connection is named by its four ends, which the TLS socket reports too; only
// connections whose addresses came from a PROXY header are written down.
import type { Socket } from 'node:net';
import { socketAddresses, type ConnectionAddresses } from '../client-address.js';

function endsOf(socket: Socket): string {
  return `${socket.remoteAddress}|${socket.remotePort}|${socket.localAddress}|${socket.localPort}`;
}

export class AddressBook {
  readonly #carried = new Map<string, ConnectionAddresses>();

  /** Notes the addresses a PROXY header carried for `socket`, until it closes. */
  remember(socket: Socket, addresses: ConnectionAddresses): void {
    const ends = endsOf(socket);
    this.#carried.set(ends, addresses);
    socket.once('close', () => this.#carried.delete(ends));
  }

  /** The addresses decided for the connection under `socket` (itself, or a TLS socket wrapping it). */
  of(socket: Socket): ConnectionAddresses {
    return (this.#carried.size > 0 ? this.#carried.get(endsOf(socket)) : undefined) ?? socketAddresses(socket);
  }
}
