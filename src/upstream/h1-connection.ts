// One connection to a server: its socket's events, attached once for the connection's
// life, routed to whichever request uses it now (a ConnectionUser), or, while idle in the
// pool, turned into its end: data, a FIN or an error on an idle connection drop it.
import type { Socket } from 'node:net';
import { LbError } from '../errors.js';

/** The request using a connection: receives its socket's events. */
export interface ConnectionUser {
  /** The TCP (and TLS) handshake finished. */
  onConnected(conn: H1Connection): void;
  onSocketData(chunk: Buffer): void;
  onSocketDrain(): void;
  /** The server's FIN. */
  onSocketEnd(): void;
  /** The socket closed; `err` is why, when known (an error event, our connect timeout). */
  onSocketClose(err: unknown): void;
  onSocketTimeout(): void;
}

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** The connection closed: forget it. */
  connectionClosed(conn: H1Connection): void;
}

function connectTimedOut(conn: H1Connection): void {
  conn.fail(new LbError('LB_ERR_CONNECT_TIMEOUT', 'connect: timeout'));
}

/** A socket to one server, reused for one request at a time. */
export class H1Connection {
  readonly socket: Socket;
  readonly #owner: ConnectionOwner;
  user: ConnectionUser | null = null;
  connected = false;
  /** Requests written on it so far: more than 0 means a reused connection. */
  requests = 0;
  /** While idle in the pool: when it is closed (performance.now() time). */
  idleUntil = 0;
  /** Set by recycle(): closed once its request ends instead of going back to the pool. */
  retired = false;
  /** What was written first on it (a PROXY header), null for nothing. */
  readonly preface: Buffer | null;
  #error: unknown = undefined;
  #connectTimer: NodeJS.Timeout | null;
  #detached = false;

  constructor(socket: Socket, owner: ConnectionOwner, connectMs: number, secure: boolean, preface: Buffer | null = null) {
    this.socket = socket;
    this.preface = preface;
    this.#owner = owner;
    this.#connectTimer = setTimeout(connectTimedOut, connectMs, this);
    socket.once(secure ? 'secureConnect' : 'connect', this.#onConnect);
    socket.on('data', this.#onData);
    socket.on('drain', this.#onDrain);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
    socket.on('timeout', this.#onTimeout);
  }

  /** Destroys the socket with `err` as the reason its user hears. */
  fail(err: unknown): void {
    this.#error ??= err;
    this.socket.destroy();
  }

  /** True when an idle connection can take a request: open both ways, nothing received while idle. */
  usable(): boolean {
    const socket = this.socket;
    return !socket.destroyed && !socket.readableEnded && socket.writable && socket.readableLength === 0 && this.#error === undefined;
  }

  /**
   * Hands the socket over (a tunnel after 101): our listeners off, reading paused, `early`
   * bytes (read past the head) put back in front of the stream.
   */
  detach(early: Buffer | null): Socket {
    const socket = this.socket;
    this.#detached = true;
    this.user = null;
    socket.pause();
    socket.setTimeout(0);
    socket.off('data', this.#onData);
    socket.off('drain', this.#onDrain);
    socket.off('end', this.#onEnd);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
    socket.off('timeout', this.#onTimeout);
    if (early !== null && early.length > 0) socket.unshift(early);
    this.#owner.connectionClosed(this);
    return socket;
  }

  readonly #onConnect = (): void => {
    clearTimeout(this.#connectTimer!);
    this.#connectTimer = null;
    this.connected = true;
    this.socket.setNoDelay(true);
    if (this.user !== null) this.user.onConnected(this);
    else this.socket.destroy();
  };

  readonly #onData = (chunk: Buffer): void => {
    if (this.user !== null) this.user.onSocketData(chunk);
    else this.socket.destroy(); // unexpected bytes while idle
  };

  readonly #onDrain = (): void => {
    this.user?.onSocketDrain();
  };

  readonly #onEnd = (): void => {
    if (this.user !== null) this.user.onSocketEnd();
    else this.socket.destroy();
  };

  readonly #onError = (err: Error): void => {
    this.#error ??= err;
  };

  readonly #onClose = (): void => {
    if (this.#connectTimer !== null) clearTimeout(this.#connectTimer);
    if (this.#detached) return;
    this.#owner.connectionClosed(this);
    const user = this.user;
    this.user = null;
    user?.onSocketClose(this.#error);
  };

  readonly #onTimeout = (): void => {
    if (this.user !== null) this.user.onSocketTimeout();
    else this.socket.destroy(); // idle for the server timeout: the pool's own expiry is normally sooner
  };
}
