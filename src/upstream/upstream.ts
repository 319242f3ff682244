// The upstream side of an exchange: how a request reaches one server and how its
// answer comes back. The exchange speaks only this interface; h1-upstream.ts (Doorman's
// own HTTP/1.1 client) and h2-upstream.ts (node:http2) implement it, and another
// protocol plugs in here without touching the exchange's decisions.
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { ConnectionAddresses } from '../client-address.js';
import type { LbError, UpstreamError } from '../errors.js';

/** A request body as a front hands it on: the payload, and once it ended its trailer fields (raw pairs, checked by the front). */
export interface RequestBodyStream extends Readable {
  readonly trailers?: readonly string[];
}

/** A request as it leaves for a server: the head already rewritten, the body streamed. */
export interface UpstreamRequest {
  readonly method: string;
  /** Origin-form path and query. */
  readonly path: string;
  /** Raw pairs: name, value, name, value. Hop-by-hop headers already removed. */
  readonly headers: readonly string[];
  /** The request body, null when there is none. Its trailers follow it when the framing to the server can carry them. */
  readonly body: RequestBodyStream | null;
  /** The protocol asked for in `Upgrade` (`websocket`), null for an ordinary request. */
  readonly upgrade: string | null;
  /** The client connection's addresses, for a server that takes a PROXY header. */
  readonly client: ConnectionAddresses;
}

/**
 * Receives one request's progress, in this order: onConnect, onBodySent*, onInterim*,
 * then either onResponse, onData*, onComplete or onUpgrade; onError may end it at any point.
 */
export interface UpstreamHandler {
  /** A connection took the request; `abort` cancels it from now on. */
  onConnect(abort: (err?: Error) => void): void;
  /** Request body bytes written to the server. */
  onBodySent(bytes: number): void;
  /**
   * An interim (1xx) response head before the final one, 101 excepted (onUpgrade).
   * Every one comes, 100 Continue too: the exchange decides what reaches the client.
   */
  onInterim(status: number, statusText: string, headers: readonly (Buffer | string)[]): void;
  /**
   * The final response head. Header names and values are raw
   * pairs, as Buffers or strings. Return false to pause the body until `resume()`.
   */
  onResponse(status: number, statusText: string, headers: readonly (Buffer | string)[], resume: () => void): boolean;
  /** A response body chunk; false pauses until the `resume` of onResponse is called. */
  onData(chunk: Buffer): boolean;
  /** The response ended, with its trailer fields as raw pairs (empty when none); the connection is free again. */
  onComplete(trailers: readonly string[]): void;
  /** The server switched protocols (101): `socket` is now the tunnel's server side. */
  onUpgrade(status: number, headers: readonly (Buffer | string)[], socket: Socket): void;
  /**
   * The attempt failed, classified (connect, TLS, timeout, closed, malformed response);
   * LB_ERR_BAD_REQUEST when the request itself could not be sent (the server is not to blame).
   */
  onError(err: UpstreamError | LbError<'LB_ERR_BAD_REQUEST'>): void;
}

/** One server's way in: a pool of connections to it. */
export interface Upstream {
  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void;
  /** Closes idle connections now and in-flight ones when they finish; later requests get new ones. */
  recycle(): void;
  /** Lets requests in flight finish, then closes every connection. */
  close(): Promise<void>;
  /** Destroys every connection, in flight or not. */
  destroy(): Promise<void>;
}
