// What a front hands the exchange: the request head in protocol-neutral terms, and
// the facts of the frontend it arrived on.
import type { ConnectionAddresses } from '../client-address.js';
import type { HeaderRules } from '../config/types.js';

/** The frontend facts an exchange needs. */
export interface FrontendFacts {
  readonly name: string;
  readonly proto: 'http' | 'https';
  /** The real listening port, as a string for X-Forwarded-Port. */
  readonly port: string;
  /** The frontend's header rules. */
  readonly headers: HeaderRules;
  /** The Strict-Transport-Security value every response carries, null for none. */
  readonly hsts: string | null;
}

/**
 * A request head as a front parsed it, with its connection's addresses (decided at accept:
 * a PROXY header's, or the socket's). Decisions read the few fields materialised here.
 */
export interface RequestHead extends ConnectionAddresses {
  readonly method: string;
  /** Origin-form path and query (a front turns absolute-form into this). */
  readonly target: string;
  /** As the client spoke it: `1.1`, `1.0`, `2`. */
  readonly httpVersion: string;
  /** Raw pairs as received: name, value, name, value. */
  readonly headers: readonly string[];
  /** The Host (or :authority) value, '' when absent. */
  readonly host: string;
  /** Every Cookie header joined with `; `, undefined when none. */
  readonly cookie: string | undefined;
  /** The Connection header's value, undefined when none. */
  readonly connection: string | undefined;
  /** True when a request body follows (Content-Length > 0 or Transfer-Encoding). */
  readonly hasBody: boolean;
  /** The protocol an upgrade request asks for (`websocket`), null otherwise. */
  readonly upgrade: string | null;
}
