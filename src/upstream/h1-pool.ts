// The keep-alive connections to one server: idle ones reused last-in first-out (the
// warmest socket, and the others age out), at most `maxconn` in all, requests waiting
// for a free one beyond that; idle connections close after a timeout and above a cap.
// A connection opened with a preface (a PROXY header naming one client connection) only
// ever serves requests with the same preface. Idle expiry is one timer per pool, armed
// for the earliest deadline: a socket timeout per release would allocate a timer (and a
// bound callback) on every request.
import type { Socket } from 'node:net';
import type { UpstreamError } from '../errors.js';
import { H1Connection, type ConnectionOwner, type ConnectionUser } from './h1-connection.js';

/** How long an idle connection is kept when the server names no shorter Keep-Alive timeout. */
export const DEFAULT_IDLE_MS = 4000;
/** Taken off the server's `Keep-Alive: timeout=N`, so we never reuse a socket the server is closing. */
export const KEEP_ALIVE_MARGIN_MS = 1000;
/** Idle connections kept at most when maxconn does not bound them. */
export const DEFAULT_IDLE_CAP = 128;

export interface PoolOptions {
  /**
   * Opens a socket to the server (plain or TLS), writing `preface` first when given
   * (before TLS); `secure` says which event means connected.
   */
  readonly connect: (preface: Buffer | null) => Socket;
  readonly secure: boolean;
  readonly connectMs: number;
  /** Connections at most; 0 = no limit. */
  readonly maxConnections: number;
}

/** A user waiting for a connection: started with one (fresh ones call onConnected later). */
export interface PoolUser extends ConnectionUser {
  /** Sent first on a new connection; only a connection opened with the same preface may serve this user. */
  readonly preface: Buffer | null;
  /** The pool hands it `conn`: already connected when `reused`. */
  start(conn: H1Connection, reused: boolean): void;
  /** The pool closed before a connection was free for it. */
  cancel(err: UpstreamError): void;
}

function samePreface(a: Buffer | null, b: Buffer | null): boolean {
  return a === b || (a !== null && b !== null && a.equals(b));
}

export class H1Pool implements ConnectionOwner {
  readonly #options: PoolOptions;
  readonly #idle: H1Connection[] = [];
  readonly #all = new Set<H1Connection>();
  readonly #waiting: PoolUser[] = [];
  readonly #idleCap: number;
  #closed = false;
  #onEmpty: (() => void) | null = null;
  /** Closes idle connections past their deadline; armed while any is idle. */
  #expiryTimer: NodeJS.Timeout | null = null;
  /** When #expiryTimer fires (performance.now() time). */
  #expiryAt = Infinity;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.#idleCap = options.maxConnections > 0 ? options.maxConnections : DEFAULT_IDLE_CAP;
  }

  /** Connections open (idle or busy). */
  get size(): number {
    return this.#all.size;
  }

  /** Idle connections. */
  get idleCount(): number {
    return this.#idle.length;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Gives `user` the most recently idle usable connection, else a new one, else a place in line. */
  acquire(user: PoolUser): void {
    const idle = this.#idle;
    let now = -1;
    for (let at = idle.length - 1; at >= 0; at--) {
      const conn = idle[at]!;
      if (!samePreface(conn.preface, user.preface)) continue;
      idle.splice(at, 1);
      // Past its deadline while the expiry timer waited on a busy event loop: the server may be closing it.
      if (now < 0) now = performance.now();
      if (conn.idleUntil <= now || !conn.usable()) {
        conn.socket.destroy();
        continue;
      }
      conn.user = user;
      user.start(conn, true);
      return;
    }
    if (this.#options.maxConnections > 0 && this.#all.size >= this.#options.maxConnections) {
      this.#waiting.push(user);
      return;
    }
    this.connectFresh(user);
  }

  /** A new connection for `user`, whatever is idle (a retry after a reused one died). */
  connectFresh(user: PoolUser): void {
    const conn = new H1Connection(this.#options.connect(user.preface), this, this.#options.connectMs, this.#options.secure, user.preface);
    this.#all.add(conn);
    conn.user = user;
    user.start(conn, false);
  }

  /** A request ended on `conn`: back to the pool for `idleMs` when `reusable`, else closed. */
  release(conn: H1Connection, reusable: boolean, idleMs: number): void {
    conn.user = null;
    const socket = conn.socket;
    if (!reusable || this.#closed || conn.retired || idleMs <= 0 || !conn.usable()) {
      socket.destroy();
      return;
    }
    const at = this.#waiting.findIndex((user) => samePreface(user.preface, conn.preface));
    if (at >= 0) {
      const next = this.#waiting.splice(at, 1)[0]!;
      conn.user = next;
      next.start(conn, true);
      return;
    }
    // Others wait for a connection this one cannot be: closing it lets connectionClosed open theirs.
    if (this.#waiting.length > 0) {
      socket.destroy();
      return;
    }
    if (this.#idle.length >= this.#idleCap) this.#idle.shift()!.socket.destroy();
    if (socket.isPaused()) socket.resume();
    conn.idleUntil = performance.now() + idleMs;
    this.#idle.push(conn);
    if (conn.idleUntil < this.#expiryAt) this.#armExpiry(conn.idleUntil);
  }

  #armExpiry(at: number): void {
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer);
    this.#expiryAt = at;
    this.#expiryTimer = setTimeout(this.#expire, Math.max(1, Math.ceil(at - performance.now()))).unref();
  }

  /** Closes the idle connections whose time is up, then waits for the next deadline. */
  readonly #expire = (): void => {
    this.#expiryTimer = null;
    this.#expiryAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    const idle = this.#idle;
    for (let at = idle.length - 1; at >= 0; at--) {
      const conn = idle[at]!;
      if (conn.idleUntil <= now) {
        idle.splice(at, 1);
        conn.socket.destroy();
      } else if (conn.idleUntil < next) next = conn.idleUntil;
    }
    if (next !== Infinity) this.#armExpiry(next);
  };

  connectionClosed(conn: H1Connection): void {
    if (!this.#all.delete(conn)) return;
    const at = this.#idle.indexOf(conn);
    if (at >= 0) this.#idle.splice(at, 1);
    if (this.#waiting.length > 0 && !this.#closed) this.connectFresh(this.#waiting.shift()!);
    if (this.#all.size === 0 && this.#onEmpty !== null) {
      const onEmpty = this.#onEmpty;
      this.#onEmpty = null;
      onEmpty();
    }
  }

  /** Closes idle connections now; busy ones close when their request ends. */
  recycle(): void {
    for (const conn of this.#all) conn.retired = true;
    for (const conn of this.#idle.splice(0)) conn.socket.destroy();
    if (this.#expiryTimer !== null) clearTimeout(this.#expiryTimer);
    this.#expiryTimer = null;
    this.#expiryAt = Infinity;
  }

  /** Takes no new request; resolves once every connection has closed. Returns the users still waiting. */
  close(): { waiting: PoolUser[]; done: Promise<void> } {
    this.#closed = true;
    this.recycle();
    const waiting = this.#waiting.splice(0);
    const done = this.#all.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => (this.#onEmpty = resolve));
    return { waiting, done };
  }

  /** Destroys every connection; their requests fail. */
  destroy(): { waiting: PoolUser[]; done: Promise<void> } {
    const result = this.close();
    for (const conn of [...this.#all]) conn.socket.destroy();
    return result;
  }
}
