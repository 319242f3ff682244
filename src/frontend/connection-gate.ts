// The global `maxconn`: at most this many client connections are served at once.
// Connections past the limit are accepted by the kernel and held paused, unread, in
// FIFO order until a served one closes — like HAProxy leaving them in the backlog —
// never reset.
import type { Socket } from 'node:net';

/** Admits client connections up to a limit; the rest wait paused. */
export class ConnectionGate {
  #limit: number;
  #open = 0;
  readonly #waiting: Array<{ socket: Socket; admit: () => void }> = [];

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Connections being served now. */
  get open(): number {
    return this.#open;
  }

  /** Connections waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Serves `socket` now (calling `admit`) or once a slot frees up. */
  offer(socket: Socket, admit: () => void): void {
    if (this.#open < this.#limit) {
      this.#start(socket, admit);
      return;
    }
    const entry = { socket, admit };
    this.#waiting.push(entry);
    // A client that gives up while waiting leaves the line.
    socket.once('close', () => {
      const at = this.#waiting.indexOf(entry);
      if (at >= 0) this.#waiting.splice(at, 1);
    });
  }

  /** A reload's new limit: a higher one admits waiting connections now. */
  setLimit(limit: number): void {
    this.#limit = limit;
    this.#next();
  }

  /** Drops every waiting connection (shutdown). */
  dropWaiting(): void {
    for (const { socket } of this.#waiting.splice(0)) socket.destroy();
  }

  #start(socket: Socket, admit: () => void): void {
    this.#open += 1;
    // 'close' comes once: `on` spares the wrapper `once` makes for every connection.
    socket.on('close', () => {
      this.#open -= 1;
      this.#next();
    });
    admit();
  }

  #next(): void {
    while (this.#open < this.#limit) {
      const entry = this.#waiting.shift();
      if (!entry) return;
      if (entry.socket.destroyed) continue;
      this.#start(entry.socket, entry.admit);
    }
  }
}
