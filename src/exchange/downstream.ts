// The client side of an exchange: how it answers, whatever the protocol. Doorman's own
// HTTP/1.1 engine (src/h1/front/) and the HTTP/2 streams (src/h2/) implement it; the
// exchange does not know which.
import type { Socket } from 'node:net';
import type { RequestBodyStream } from '../upstream/upstream.js';

export interface Downstream {
  /** The request body, null when the request has none; with its trailers when the client sent some. */
  readonly body: RequestBodyStream | null;
  /** Calls `listener` once if the client goes away before the response has ended. */
  onClose(listener: () => void): void;
  /** The request body starts flowing upstream: the front enforces its idle limit from now on. */
  bodyFlowing(): void;
  /**
   * Sends an interim (1xx) response head before the final one, when the client's
   * protocol carries it (not HTTP/1.0); dropped once the final head went out. Throws
   * like respond.
   */
  interim(status: number, statusText: string, headers: readonly string[]): void;
  /**
   * Sends the final response head (raw pairs, hop-by-hop headers already removed);
   * `close` ends the client connection after this response. Throws when the front
   * cannot express a header: the response then counts as malformed.
   */
  respond(status: number, statusText: string, headers: readonly string[], close: boolean): void;
  /** A body chunk; false when the client is slow: wait for onDrain. */
  write(chunk: Buffer): boolean;
  onDrain(listener: () => void): void;
  /** Ends the response, with a last chunk and trailer fields (raw pairs) when given; a front that cannot carry trailers drops them. */
  end(last?: string, trailers?: readonly string[]): void;
  /** Cuts the response short: the only honest signal once a head went out. */
  abort(): void;
  /**
   * Answers a 101 and joins the client and `upstream` byte for byte; `done` is called
   * once when either side closes, with the bytes that went each way.
   */
  tunnel(
    status: number,
    headers: readonly string[],
    upstream: Socket,
    done: (bytesFromClient: number, bytesToClient: number) => void,
  ): void;
}
