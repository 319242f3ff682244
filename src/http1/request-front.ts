// The HTTP/1.1 front on node:http: turns an IncomingMessage into a RequestHead, checks
// what node:http lets through but Doorman refuses, and answers through a Downstream
// over the ServerResponse. The exchange does the rest.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { LbError } from '../errors.js';
import type { Downstream } from '../exchange/downstream.js';
import { Exchange, type ExchangeContext } from '../exchange/exchange.js';
import { plainAddress } from '../exchange/headers.js';
import type { RequestHead } from '../exchange/request-head.js';
import { watchBodyProgress } from './body-watch.js';

/** Counts `host` header lines: Node keeps only the first of several. */
function hostHeaderCount(rawHeaders: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    if (name.length === 4 && name.toLowerCase() === 'host') count += 1;
  }
  return count;
}

/** The path and query of an absolute-form target (`http://host/p?q`), or null. */
function originForm(target: string): string | null {
  if (!/^https?:\/\//i.test(target)) return null;
  try {
    const parsed = new URL(target);
    return parsed.pathname + parsed.search;
  } catch {
    return null;
  }
}

/** True when a request body follows the head. */
export function hasRequestBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The head of a node:http request; `target` is the origin form when it could be made. */
export function requestHeadOf(req: IncomingMessage, upgrade: string | null): RequestHead {
  const url = req.url ?? '/';
  return {
    method: req.method ?? 'GET',
    target: url.charCodeAt(0) === 47 /* '/' */ ? url : (originForm(url) ?? url),
    httpVersion: req.httpVersion,
    headers: req.rawHeaders,
    host: req.headers.host ?? '',
    // node:http joins repeated Cookie lines with '; '.
    cookie: req.headers.cookie,
    connection: req.headers.connection,
    hasBody: hasRequestBody(req),
    upgrade,
    clientAddress: plainAddress(req.socket.remoteAddress),
    clientPort: req.socket.remotePort ?? 0,
  };
}

/** Why node:http's parse is not enough for Doorman, or null when the head is fine. */
export function refusal(req: IncomingMessage, head: RequestHead): LbError | null {
  if (hostHeaderCount(req.rawHeaders) > 1) return new LbError('LB_ERR_BAD_REQUEST', 'duplicate host header');
  // Upstream requests carry origin-form only: anything else is refused here.
  if (head.target.charCodeAt(0) !== 47) return new LbError('LB_ERR_BAD_REQUEST', 'request target must be a path');
  return null;
}

/** A Downstream over node:http's ServerResponse. */
class ResponseDownstream implements Downstream {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #clientTimeoutMs: number;
  readonly body: Readable | null;

  constructor(req: IncomingMessage, res: ServerResponse, hasBody: boolean, clientTimeoutMs: number) {
    this.#req = req;
    this.#res = res;
    this.#clientTimeoutMs = clientTimeoutMs;
    this.body = hasBody ? req : null;
  }

  onClose(listener: () => void): void {
    const res = this.#res;
    res.once('close', () => {
      if (!res.writableFinished) listener();
    });
  }

  bodyFlowing(): void {
    // A client that stalls its body loses the connection.
    if (!this.#req.complete) watchBodyProgress(this.#req, this.#clientTimeoutMs);
  }

  respond(status: number, statusText: string, headers: readonly string[], close: boolean): void {
    const res = this.#res;
    if (close) res.shouldKeepAlive = false;
    res.writeHead(status, statusText || undefined, headers as string[]);
  }

  write(chunk: Buffer): boolean {
    return this.#res.write(chunk);
  }

  onDrain(listener: () => void): void {
    this.#res.on('drain', listener);
  }

  end(last?: string): void {
    // Trailers are dropped: an HTTP/1.1 response would have to be chunked and announce them.
    this.#res.end(last);
  }

  abort(): void {
    this.#res.destroy();
  }

  tunnel(_status: number, _headers: readonly string[], upstream: Duplex): void {
    // Only the upgrade front asks servers to switch protocols.
    upstream.destroy();
    this.#res.destroy();
  }
}

/** The per-frontend settings of the HTTP/1.1 front. */
export interface Http1FrontOptions {
  readonly exchange: ExchangeContext;
  readonly clientTimeoutMs: number;
  readonly requestId: () => string;
}

/** Builds the `request` listener of one frontend. */
export function createRequestFront(options: Http1FrontOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { exchange: ctx, clientTimeoutMs, requestId } = options;
  return function handleRequest(req, res) {
    const head = requestHeadOf(req, null);
    const down = new ResponseDownstream(req, res, head.hasBody, clientTimeoutMs);
    const exchange = new Exchange(head, down, ctx, requestId());
    const refused = refusal(req, head);
    if (refused) exchange.reject(refused);
    else exchange.start();
  };
}
