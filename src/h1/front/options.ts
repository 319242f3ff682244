// What a listener gives Doorman's own HTTP/1.1 engine for each connection, and what it
// gets back to drain it.
import type { Socket } from 'node:net';
import type { ExchangeContext } from '../../exchange/exchange.js';
import type { ChunkedLimits } from '../chunked.js';
import type { HeadLimits } from '../head.js';

/**
 * The settings of one frontend's HTTP/1.1 connections, shared by all of them (made once
 * per config, not per connection: an idle connection should cost little memory).
 */
export interface H1FrontOptions {
  /** The exchange context in force (a reload may replace it between two requests). */
  readonly context: () => ExchangeContext;
  readonly requestId: () => string;
  /** timeouts.client: the head deadline, keep-alive idleness, request body and tunnel idleness. */
  readonly clientTimeoutMs: number;
  readonly headLimits?: HeadLimits;
  readonly chunkedLimits?: ChunkedLimits;
  /** A request could not be read (malformed head or body, too slow): `status` was answered, or the connection cut. */
  readonly clientError?: (status: number, code: string) => void;
  /** The raw answer for such a request (the frontend's error page, HSTS); default: the built-in text. */
  readonly rawError?: (status: number) => string;
  /** The connection closed (the listener forgets it). */
  readonly closed?: (conn: H1Connection) => void;
}

/** A served connection, as the listener sees it for drain. */
export interface H1Connection {
  readonly socket: Socket;
  /** Closes the connection if it waits for a request; otherwise it closes after the response in flight. */
  closeIdle(): void;
  /** Closes the connection now; one already closing after its last answer gets a second to flush it. */
  close(): void;
}
