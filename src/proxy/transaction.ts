// One proxied request, from server selection to the last response byte: the
// persistence cookie, the queue, retries and redispatch, and undici's dispatch
// handler that relays the response with backpressure.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Backend, PendingAcquire } from '../backend/backend.js';
import type { UpstreamServer } from '../backend/server.js';
import { privateCacheControl } from '../balancer/cookie.js';
import { LbError } from '../errors.js';
import type { AccessRecord, NoCookie, RequestCookieState, ResponseCookieState, Termination } from './access-record.js';
import { downstreamResponseHeaders, inBlockList, upstreamRequestHeaders } from './headers.js';
import { watchBodyProgress } from './body-watch.js';
import { sendError } from './responses.js';
import { shouldRetry, type AttemptPhase } from './retry.js';
import { classifyUpstreamError, TERMINATION_OF_FAILURE, upstreamLbError, type ClassifiedError } from './upstream-error.js';

/** The frontend facts a transaction needs. */
export interface FrontendFacts {
  readonly name: string;
  readonly proto: 'http' | 'https';
  /** The real listening port, as a string for X-Forwarded-Port. */
  readonly port: string;
}

/** Where a transaction reports what happened: passive health, logs, metrics. */
export interface TransactionObserver {
  /** A finished attempt on a server: null when it answered, else why it failed. */
  attemptDone(server: UpstreamServer, failure: ClassifiedError | null, status: number): void;
  /** The request is finished (response ended, aborted or answered with an error). */
  requestDone(record: AccessRecord): void;
}

/** Everything a transaction shares with its siblings. */
export interface TransactionContext {
  readonly frontend: FrontendFacts;
  readonly backend: Backend;
  readonly serverTimeoutMs: number;
  /** Idle limit while the client sends its body. */
  readonly clientTimeoutMs: number;
  readonly observer: TransactionObserver;
  /** True while the process drains: responses then close their connection. */
  readonly draining: () => boolean;
}

/** Carries one client request through the backend and relays the response. */
export class ProxyTransaction implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #ctx: TransactionContext;
  readonly #reqId: string;
  readonly #startedAt = performance.now();
  readonly #clientAddress: string;
  readonly #clientPort: number;
  readonly #hasBody: boolean;
  readonly #method: string;

  #upstreamHeaders: string[] = [];
  #server: UpstreamServer | null = null;
  /** The server of the latest attempt, for the log. */
  #lastServer: UpstreamServer | null = null;
  #tried: Set<UpstreamServer> | undefined;
  #preferred: UpstreamServer | undefined;
  #firstSeenSec: number | undefined;
  #refreshCookie = false;
  /** Set while the request waits in a queue. */
  #cancelWait: (() => void) | undefined;
  #waitStartedAt = 0;
  #abortUpstream: ((err?: Error) => void) | null = null;
  #phase: AttemptPhase = 'connect';
  #responseStarted = false;
  #finished = false;
  #clientGone = false;

  #retries = 0;
  #redispatched = false;
  #cookieIn: RequestCookieState | NoCookie = '-';
  #cookieOut: ResponseCookieState | NoCookie = '-';
  #queueMs = -1;
  #serverQueueAhead = 0;
  #backendQueueAhead = 0;
  #connectMs = -1;
  #responseMs = -1;
  #attemptStartedAt = 0;
  #bytesOut = 0;
  #bytesIn = 0;
  #status = 0;
  #error: string | undefined;

  constructor(req: IncomingMessage, res: ServerResponse, ctx: TransactionContext, reqId: string, clientAddress: string) {
    this.#req = req;
    this.#res = res;
    this.#ctx = ctx;
    this.#reqId = reqId;
    this.#clientAddress = clientAddress;
    this.#clientPort = req.socket.remotePort ?? 0;
    this.#method = req.method ?? 'GET';
    const length = req.headers['content-length'];
    this.#hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    res.once('close', this.#onClientClose);
  }

  /** Starts the request: cookie lookup, header pass, server selection. */
  start(): void {
    const backend = this.#ctx.backend;
    const persistence = backend.persistence;
    if (persistence) {
      this.#cookieOut = 'N';
      const found = persistence.cookie.lookup(this.#req.headers.cookie, Date.now());
      this.#cookieIn = found.flag;
      if (found.flag === 'V') {
        const server = backend.servers[found.serverIndex]!;
        if (server.takesCookieHolders()) {
          this.#preferred = server;
          this.#firstSeenSec = found.firstSeenSec;
          this.#refreshCookie = found.needsRefresh;
        } else {
          this.#cookieIn = 'D';
        }
      }
    }
    const forwardFor = backend.config.forwardFor;
    const { headers } = upstreamRequestHeaders(
      this.#req.rawHeaders,
      {
        clientAddress: this.#clientAddress,
        proto: this.#ctx.frontend.proto,
        port: this.#ctx.frontend.port,
        trustClientChain: forwardFor.trusted.length > 0 && inBlockList(backend.forwardTrusted, this.#clientAddress),
        omitForwardedFor: forwardFor.except !== null && inBlockList(backend.forwardExcept, this.#clientAddress),
      },
      persistence?.config.indirect ? persistence.strip : undefined,
      this.#req.headers.connection,
    );
    this.#upstreamHeaders = headers;
    this.#acquire();
  }

  // ---- server selection ---------------------------------------------------

  #acquire(): void {
    const placement = this.#ctx.backend.place({
      clientAddress: this.#clientAddress,
      preferred: this.#preferred,
      exclude: this.#tried,
    });
    switch (placement.kind) {
      case 'server':
        if (this.#queueMs < 0) this.#queueMs = 0;
        this.#dispatch(placement.server);
        return;
      case 'none':
        this.#fail(new LbError('LB_ERR_NO_SERVER', 'no server available'), 'no-server');
        return;
      case 'wait': {
        this.#enterQueue(placement.pending);
        placement.pending.promise.then(
          (server) => {
            this.#leaveQueue();
            if (this.#clientGone) {
              this.#ctx.backend.release(server);
              return;
            }
            this.#dispatch(server);
          },
          (err: LbError) => {
            this.#leaveQueue();
            this.#fail(err, err.code === 'LB_ERR_QUEUE_TIMEOUT' ? 'queue-timeout' : 'no-server');
          },
        );
        return;
      }
    }
  }

  #enterQueue(pending: PendingAcquire): void {
    this.#cancelWait = pending.cancel;
    this.#waitStartedAt = performance.now();
    this.#serverQueueAhead = pending.ahead.server;
    this.#backendQueueAhead = pending.ahead.backend;
  }

  /** Adds the time spent waiting to queueMs (a retry may wait twice). */
  #leaveQueue(): void {
    if (!this.#cancelWait) return;
    this.#cancelWait = undefined;
    this.#queueMs = Math.max(0, this.#queueMs) + (performance.now() - this.#waitStartedAt);
  }

  #dispatch(server: UpstreamServer): void {
    this.#server = server;
    this.#lastServer = server;
    this.#phase = 'connect';
    this.#abortUpstream = null;
    this.#attemptStartedAt = performance.now();
    server.pool.dispatch(
      {
        path: this.#req.url ?? '/',
        method: this.#method,
        headers: this.#upstreamHeaders,
        body: this.#hasBody ? this.#req : null,
        headersTimeout: this.#ctx.serverTimeoutMs,
        bodyTimeout: this.#ctx.serverTimeoutMs,
        idempotent: false,
        blocking: false,
      },
      this,
    );
  }

  #releaseServer(): UpstreamServer | null {
    const server = this.#server;
    if (server) {
      this.#server = null;
      this.#ctx.backend.release(server);
    }
    return server;
  }

  // ---- undici's dispatch handler -------------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    if (this.#clientGone) {
      abort(new Error('client aborted'));
      return;
    }
    this.#abortUpstream = abort;
    this.#phase = 'sent';
    // The body is read from now on: a client that stalls it loses the connection.
    // (Once per request: a request with a body is only retried before onConnect.)
    if (this.#hasBody && !this.#req.complete) watchBodyProgress(this.#req, this.#ctx.clientTimeoutMs);
    this.#connectMs = performance.now() - this.#attemptStartedAt;
    this.#attemptStartedAt = performance.now();
  }

  // undici passes the chunk itself, although its typings say a size.
  onBodySent(chunk: unknown): void {
    this.#bytesIn += typeof chunk === 'number' ? chunk : (chunk as Buffer).length;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) return true; // 1xx: Node answers 100-continue itself.
    this.#responseMs = performance.now() - this.#attemptStartedAt;
    this.#responseStarted = true;
    this.#status = statusCode;
    const server = this.#server!;
    const { headers, cacheControl, cacheControlIndex } = downstreamResponseHeaders(rawHeaders);
    this.#addPersistenceCookie(server, headers, cacheControl, cacheControlIndex);
    const res = this.#res;
    if (this.#ctx.draining()) res.shouldKeepAlive = false;
    try {
      res.writeHead(statusCode, statusText || undefined, headers);
    } catch (err) {
      // A header Node refuses to send: a malformed response, answered 502 in onError.
      this.#responseStarted = false;
      this.#error = `protocol: ${(err as Error).message}`;
      this.#abortUpstream?.(err as Error);
      return false;
    }
    this.#ctx.observer.attemptDone(server, null, statusCode);
    res.on('drain', resume);
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.#bytesOut += chunk.length;
    return this.#res.write(chunk);
  }

  onComplete(): void {
    this.#releaseServer();
    this.#res.end();
    this.#finish('normal');
  }

  onError(err: Error): void {
    const server = this.#releaseServer();
    if (this.#clientGone || this.#finished) {
      this.#finish('client-aborted');
      return;
    }
    if ((err as { code?: string }).code === 'UND_ERR_INVALID_ARG') {
      // undici refused the request itself: the server is not to blame, nothing to retry.
      this.#fail(new LbError('LB_ERR_BAD_REQUEST', err.message), 'bad-request');
      return;
    }
    const failure = classifyUpstreamError(err);
    this.#error = this.#error ?? failure.reason;
    if (server) this.#ctx.observer.attemptDone(server, failure, 0);
    if (this.#responseStarted) {
      // Headers are out: the only honest signal left is an aborted response.
      this.#res.destroy();
      this.#finish('server-aborted');
      return;
    }
    if (
      server &&
      shouldRetry({
        phase: this.#phase,
        failure: failure.kind,
        method: this.#method,
        hasBody: this.#hasBody,
        retriesDone: this.#retries,
        retriesAllowed: this.#ctx.backend.config.retries,
      })
    ) {
      this.#retries += 1;
      if (this.#ctx.backend.config.redispatch) this.#redispatchFrom(server);
      this.#acquire();
      return;
    }
    this.#fail(upstreamLbError(failure, err), TERMINATION_OF_FAILURE[failure.kind]);
  }

  /** Moves the retry to another server; the cookie is then set anew. */
  #redispatchFrom(server: UpstreamServer): void {
    const others = this.#ctx.backend.servers.some((s) => s !== server && s.takesNewClients() && !this.#tried?.has(s));
    if (!others) return; // Nowhere else to go: retry the same server.
    (this.#tried ??= new Set()).add(server);
    this.#preferred = undefined;
    this.#redispatched = true;
  }

  // ---- persistence cookie ---------------------------------------------------

  #addPersistenceCookie(server: UpstreamServer, headers: string[], cacheControl: string | undefined, ccIndex: number): void {
    const persistence = this.#ctx.backend.persistence;
    if (!persistence) return;
    const renewing = this.#preferred === server;
    if (renewing && !this.#refreshCookie) return;
    const now = Date.now();
    const cookie = persistence.cookie.setCookie(server.index, {
      secure: persistence.secure(this.#ctx.frontend.proto),
      nowMs: now,
      firstSeenSec: renewing ? this.#firstSeenSec : undefined,
    });
    headers.push('set-cookie', cookie);
    this.#cookieOut = renewing ? 'U' : 'I';
    if (persistence.config.nocache) {
      const value = privateCacheControl(cacheControl);
      if (value !== undefined) {
        if (ccIndex >= 0) headers[ccIndex] = value;
        else headers.push('cache-control', value);
      }
    }
  }

  // ---- endings -------------------------------------------------------------

  #onClientClose = (): void => {
    if (this.#res.writableFinished) return;
    this.#clientGone = true;
    const cancelWait = this.#cancelWait;
    // A client that gives up in the queue still waited there (HAProxy's CQ).
    this.#leaveQueue();
    cancelWait?.();
    this.#abortUpstream?.(new Error('client aborted'));
    if (!this.#server) this.#finish('client-aborted');
  };

  #fail(err: LbError, termination: Termination): void {
    this.#error = this.#error ?? err.message;
    this.#status = err.status;
    if (!this.#clientGone) sendError(this.#res, err.status);
    this.#finish(termination);
  }

  #finish(termination: Termination): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#res.off('close', this.#onClientClose);
    this.#ctx.observer.requestDone({
      reqId: this.#reqId,
      frontend: this.#ctx.frontend.name,
      backend: this.#ctx.backend.name,
      server: this.#lastServer?.name ?? '',
      clientAddress: this.#clientAddress,
      clientPort: this.#clientPort,
      method: this.#method,
      path: this.#req.url ?? '',
      httpVersion: this.#req.httpVersion,
      status: this.#status,
      bytesOut: this.#bytesOut,
      bytesIn: this.#bytesIn,
      queueMs: this.#queueMs,
      connectMs: this.#connectMs,
      responseMs: this.#responseMs,
      totalMs: performance.now() - this.#startedAt,
      serverQueueAhead: this.#serverQueueAhead,
      backendQueueAhead: this.#backendQueueAhead,
      termination: this.#clientGone && termination === 'normal' ? 'client-aborted' : termination,
      retries: this.#retries,
      redispatched: this.#redispatched,
      cookieIn: this.#cookieIn,
      cookieOut: this.#cookieOut,
      error: this.#error,
    });
  }

}
