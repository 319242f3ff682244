// One request from its head to its last response byte, whatever the protocol on either
// side: route, persistence cookie, balancing and queue, header passes, the attempt on
// a server through its Upstream, retries and redispatch, the response (or a tunnel
// after a 101) relayed with backpressure, and one record at the end.
// docs/lifecycle.md draws the same path.
import type { Logger } from 'pino';
import type { Backend, PendingAcquire } from '../backend/backend.js';
import type { UpstreamServer } from '../backend/server.js';
import { privateCacheControl } from '../balancer/cookie.js';
import { LB_ERRORS, LbError, type Termination, type UpstreamError } from '../errors.js';
import type { Socket } from 'node:net';
import type { UpstreamHandler } from '../upstream/upstream.js';
import type { AccessRecord, NoCookie, RequestCookieState, ResponseCookieState } from './access-record.js';
import type { Downstream } from './downstream.js';
import type { ErrorPages } from './error-pages.js';
import type { HeaderRules } from '../config/types.js';
import { applyHeaderOps, isEmpty, setHeader, type HeaderVariables } from './header-rules.js';
import { inBlockList } from '../client-address.js';
import { downstreamResponseHeaders, upstreamRequestHeaders } from './headers.js';
import { errorResponse, fixedResponse, httpsRedirect, redirectResponse, type LocalResponse } from './local-response.js';
import type { FrontendFacts, RequestHead } from './request-head.js';
import { shouldRetry, type AttemptPhase } from './retry.js';
import type { FrontendRouting } from './routing.js';

/** Where exchanges report what happened: passive health, logs, metrics. */
export interface ExchangeObserver {
  /** An exchange began: its requestDone will come (a graceful shutdown waits for it). */
  requestStarted?(): void;
  /** A finished attempt on a server: null when it answered, else why it failed. */
  attemptDone(server: UpstreamServer, failure: UpstreamError | null, status: number): void;
  /** The exchange is over (response ended, tunnel closed, aborted or answered with an error). */
  requestDone(record: AccessRecord): void;
}

/** A frontend's per-client request rate (src/limits/client-limits.ts). */
export interface RequestLimit {
  /** Takes a token for the client: 0 when the request may go on, else the seconds until it may (Retry-After). */
  takeRequest(clientAddress: string): number;
}

/** What every exchange of one frontend shares. */
export interface ExchangeContext {
  readonly frontend: FrontendFacts;
  readonly routing: FrontendRouting;
  readonly observer: ExchangeObserver;
  /** True while the process drains or the frontend is retired: responses then close their connection. */
  readonly draining: () => boolean;
  readonly logger: Logger;
  /** The operator's pages for error statuses; absent: the built-in text. */
  readonly errorPages?: ErrorPages;
  /** The frontend's per-client request rate; absent or null: none. */
  readonly requestLimit?: RequestLimit | null;
  /**
   * Plain-HTTP frontends: the key authorization of a pending ACME http-01 challenge for a
   * token, answered before any route or redirect; undefined lets the request through.
   */
  readonly acmeHttp01?: (token: string) => string | undefined;
}

/** Interim (1xx) responses a server may send before its final one; one more is a malformed response. */
const MAX_INTERIM_RESPONSES = 10;

/** Where ACME http-01 validations ask for their token (RFC 8555 §8.3). */
const ACME_CHALLENGE_PATH = '/.well-known/acme-challenge/';

/**
 * A duration in milliseconds kept to the microsecond: the clock's noise digits cost the
 * access line a slow number-to-text conversion each and tell nobody anything.
 */
function toMicroseconds(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

/** Statuses after which the client connection is closed: its next bytes cannot be trusted. */
function closesConnection(status: number): boolean {
  return status === 400 || status === 500;
}

/** Carries one request through a backend and relays the answer. */
export class Exchange implements UpstreamHandler {
  readonly #head: RequestHead;
  readonly #down: Downstream;
  readonly #ctx: ExchangeContext;
  /** The request id: ours, or a trusted client's X-Request-Id. */
  #reqId: string;
  #backend: Backend | null;
  /** The target sent upstream: the client's, unless a route rewrote it. */
  #target: string;
  #route = '';
  #routeHeaders: HeaderRules | null = null;
  readonly #startedAt = performance.now();

  #upstreamHeaders: readonly string[] = [];
  #server: UpstreamServer | null = null;
  /** The server of the latest attempt, for the record. */
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
  /** Interim responses of the current attempt. */
  #interims = 0;
  #tunneled = false;
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

  constructor(head: RequestHead, down: Downstream, ctx: ExchangeContext, reqId: string) {
    this.#head = head;
    this.#down = down;
    this.#ctx = ctx;
    this.#reqId = reqId;
    this.#backend = ctx.routing.fallbackBackend;
    this.#target = head.target;
    ctx.observer.requestStarted?.();
    down.onClose(this.#onClientClose);
  }

  /** Routes the request and forwards it. A bug of ours costs this one request, never the process. */
  start(): void {
    try {
      if (this.#answerAcmeChallenge()) return;
      // Over its rate, a client is answered before anything is routed, balanced or sent.
      const waitSeconds = this.#ctx.requestLimit?.takeRequest(this.#head.clientAddress) ?? 0;
      if (waitSeconds > 0) {
        this.#backend = null;
        this.#fail(new LbError('LB_ERR_RATE_LIMITED'), ['retry-after', String(waitSeconds)]);
        return;
      }
      const decision = this.#ctx.routing.decide(this.#head);
      switch (decision.kind) {
        case 'backend':
          this.#backend = decision.backend;
          this.#target = decision.target;
          this.#route = decision.route;
          this.#routeHeaders = decision.headers;
          this.#forward(decision.backend);
          return;
        case 'https':
          this.#backend = null;
          this.#answerLocally(httpsRedirect(this.#head.host, decision.port, this.#head.target), false);
          this.#finish('redirect');
          return;
        case 'redirect':
          this.#backend = null;
          this.#route = decision.route;
          this.#answerLocally(redirectResponse(decision.status, decision.location), false);
          this.#finish('redirect');
          return;
        case 'respond':
          this.#backend = null;
          this.#route = decision.route;
          this.#answerLocally(fixedResponse(decision.status, decision.body, decision.type), false);
          this.#finish('local');
          return;
        case 'none':
          this.#backend = null;
          this.#fail(new LbError('LB_ERR_NO_ROUTE'));
          return;
      }
    } catch (err) {
      this.#internalError(err);
    }
  }

  /** Answers a CA's http-01 validation of a pending challenge; false for every other request. */
  #answerAcmeChallenge(): boolean {
    const lookup = this.#ctx.acmeHttp01;
    const target = this.#head.target;
    if (lookup === undefined || !target.startsWith(ACME_CHALLENGE_PATH)) return false;
    const keyAuthorization = lookup(target.slice(ACME_CHALLENGE_PATH.length));
    if (keyAuthorization === undefined) return false;
    this.#backend = null;
    this.#answerLocally(fixedResponse(200, keyAuthorization, 'application/octet-stream'), false);
    this.#finish('local');
    return true;
  }

  /** True while the request waits in a queue for a server: nothing was sent anywhere yet. */
  get queued(): boolean {
    return this.#cancelWait !== undefined;
  }

  /** The front refused the head (malformed): answered from the error table, recorded, never forwarded. */
  reject(err: LbError): void {
    this.#fail(err);
  }

  // ---- request: cookie, header pass, server selection ------------------------

  #forward(backend: Backend): void {
    const head = this.#head;
    const persistence = backend.persistence;
    if (persistence) {
      this.#cookieOut = 'N';
      const found = persistence.cookie.lookup(head.cookie, Date.now());
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
    const frontend = this.#ctx.frontend;
    const { headers, requestId } = upstreamRequestHeaders(
      head.headers,
      {
        clientAddress: head.clientAddress,
        proto: frontend.proto,
        port: frontend.port,
        host: head.host,
        requestId: this.#reqId,
        trustClientChain: forwardFor.trusted.length > 0 && inBlockList(backend.forwardTrusted, head.clientAddress),
        omitForwardedFor: forwardFor.except !== null && inBlockList(backend.forwardExcept, head.clientAddress),
      },
      persistence?.config.indirect ? persistence.strip : undefined,
      head.connection,
    );
    this.#reqId = requestId;
    // Frontend, then route, then backend rules (HAProxy's order of http-request rules).
    const route = this.#routeHeaders?.request;
    if (!isEmpty(frontend.headers.request) || (route && !isEmpty(route)) || !isEmpty(backend.config.headers.request)) {
      const vars = this.#variables('');
      applyHeaderOps(headers, frontend.headers.request, vars);
      if (route) applyHeaderOps(headers, route, vars);
      applyHeaderOps(headers, backend.config.headers.request, vars);
    }
    this.#upstreamHeaders = headers;
    this.#acquire(backend);
  }

  #acquire(backend: Backend): void {
    const placement = backend.place({ clientAddress: this.#head.clientAddress, preferred: this.#preferred, exclude: this.#tried });
    switch (placement.kind) {
      case 'server':
        if (this.#queueMs < 0) this.#queueMs = 0;
        this.#dispatch(placement.server);
        return;
      case 'none':
        this.#fail(new LbError('LB_ERR_NO_SERVER', 'no server available'));
        return;
      case 'wait':
        this.#enterQueue(placement.pending);
        placement.pending.promise.then(
          (server) => {
            this.#leaveQueue();
            if (this.#clientGone) {
              backend.release(server);
              return;
            }
            this.#dispatch(server);
          },
          (err: unknown) => {
            this.#leaveQueue();
            // The queue rejects only with its own LbError (timeout, backend gone).
            this.#fail(err as LbError);
          },
        );
        return;
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
    this.#interims = 0;
    this.#attemptStartedAt = performance.now();
    const head = this.#head;
    server.upstream.dispatch(
      {
        method: head.method,
        path: this.#target,
        headers: this.#upstreamHeaders,
        body: this.#down.body,
        upgrade: head.upgrade,
        client: head,
      },
      this,
    );
  }

  #releaseServer(): UpstreamServer | null {
    const server = this.#server;
    if (server) {
      this.#server = null;
      this.#backend!.release(server);
    }
    return server;
  }

  // ---- the attempt (UpstreamHandler) -----------------------------------------

  onConnect(abort: (err?: Error) => void): void {
    if (this.#clientGone) {
      abort(new Error('client aborted'));
      return;
    }
    this.#abortUpstream = abort;
    this.#phase = 'sent';
    // Once per request: a request with a body is only retried before onConnect.
    if (this.#head.hasBody) this.#down.bodyFlowing();
    this.#connectMs = performance.now() - this.#attemptStartedAt;
    this.#attemptStartedAt = performance.now();
  }

  onBodySent(bytes: number): void {
    this.#bytesIn += bytes;
  }

  onInterim(status: number, statusText: string, rawHeaders: readonly (Buffer | string)[]): void {
    // A server that keeps the final answer back behind 1xx after 1xx misbehaves.
    if (++this.#interims > MAX_INTERIM_RESPONSES) {
      this.#malformedResponse('protocol: too many interim responses', undefined);
      return;
    }
    // 100 Continue is between Doorman and the server: the front answers a client's Expect itself.
    if (status === 100 || this.#clientGone) return;
    const { headers } = downstreamResponseHeaders(rawHeaders);
    this.#responseRules(headers, this.#server!.name);
    try {
      this.#down.interim(status, statusText, headers);
    } catch (err) {
      this.#malformedResponse(`protocol: ${(err as Error).message}`, err);
    }
  }

  onResponse(status: number, statusText: string, rawHeaders: readonly (Buffer | string)[], resume: () => void): boolean {
    this.#responseMs = performance.now() - this.#attemptStartedAt;
    this.#status = status;
    const server = this.#server!;
    const { headers, cacheControl, cacheControlIndex } = downstreamResponseHeaders(rawHeaders);
    this.#addPersistenceCookie(server, headers, cacheControl, cacheControlIndex);
    this.#responseRules(headers, server.name);
    try {
      this.#down.respond(status, statusText, headers, this.#ctx.draining());
    } catch (err) {
      // A header the front refuses to send.
      this.#malformedResponse(`protocol: ${(err as Error).message}`, err);
      return false;
    }
    this.#responseStarted = true;
    this.#ctx.observer.attemptDone(server, null, status);
    this.#down.onDrain(resume);
    return true;
  }

  /** Ends the attempt on a response Doorman will not relay: answered 502 in onError. */
  #malformedResponse(reason: string, cause: unknown): void {
    this.#error = reason;
    this.#abortUpstream?.(new LbError('LB_ERR_BAD_RESPONSE', reason, { cause }));
  }

  onData(chunk: Buffer): boolean {
    this.#bytesOut += chunk.length;
    return this.#down.write(chunk);
  }

  onComplete(trailers: readonly string[]): void {
    this.#releaseServer();
    this.#down.end(undefined, trailers.length > 0 ? downstreamResponseHeaders(trailers).headers : undefined);
    this.#finish('normal');
  }

  onUpgrade(status: number, rawHeaders: readonly (Buffer | string)[], socket: Socket): void {
    this.#responseMs = performance.now() - this.#attemptStartedAt;
    this.#abortUpstream = null;
    this.#status = status;
    this.#responseStarted = true;
    this.#tunneled = true;
    const server = this.#server!;
    this.#ctx.observer.attemptDone(server, null, status);
    // A tunnel's 101 never carries our cookie.
    this.#down.tunnel(status, downstreamResponseHeaders(rawHeaders).headers, socket, (fromClient, toClient) => {
      this.#bytesIn += fromClient;
      this.#bytesOut += toClient;
      this.#releaseServer();
      this.#finish('normal');
    });
  }

  onError(err: UpstreamError | LbError<'LB_ERR_BAD_REQUEST'>): void {
    const server = this.#releaseServer();
    if (this.#clientGone || this.#finished) {
      this.#finish(LB_ERRORS.LB_ERR_CLIENT_ABORTED.termination);
      return;
    }
    if (err.code === 'LB_ERR_BAD_REQUEST') {
      // The upstream client refused the request itself: the server is not to blame, nothing to retry.
      this.#fail(err);
      return;
    }
    const failure = err;
    this.#error ??= failure.message;
    if (server) this.#ctx.observer.attemptDone(server, failure, 0);
    if (this.#responseStarted) {
      // Headers are out: the only honest signal left is an aborted response.
      this.#down.abort();
      this.#finish(LB_ERRORS.LB_ERR_SERVER_ABORTED.termination);
      return;
    }
    const backend = this.#backend!;
    if (
      server &&
      shouldRetry({
        phase: this.#phase,
        failure: failure.code,
        method: this.#head.method,
        hasBody: this.#head.hasBody,
        retriesDone: this.#retries,
        retriesAllowed: backend.config.retries,
      })
    ) {
      this.#retries += 1;
      if (backend.config.redispatch) this.#redispatchFrom(backend, server);
      this.#acquire(backend);
      return;
    }
    this.#fail(failure);
  }

  /** Moves the retry to another server; the cookie is then set anew. */
  #redispatchFrom(backend: Backend, server: UpstreamServer): void {
    const others = backend.servers.some((s) => s !== server && s.takesNewClients() && !this.#tried?.has(s));
    if (!others) return; // Nowhere else to go: retry the same server.
    (this.#tried ??= new Set()).add(server);
    this.#preferred = undefined;
    this.#redispatched = true;
  }

  // ---- persistence cookie -----------------------------------------------------

  #addPersistenceCookie(server: UpstreamServer, headers: string[], cacheControl: string | undefined, ccIndex: number): void {
    const persistence = this.#backend!.persistence;
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

  // ---- endings ----------------------------------------------------------------

  #onClientClose = (): void => {
    if (this.#finished || this.#tunneled) return;
    this.#clientGone = true;
    const cancelWait = this.#cancelWait;
    // A client that gives up in the queue still waited there (HAProxy's CQ).
    this.#leaveQueue();
    cancelWait?.();
    this.#abortUpstream?.(new Error('client aborted'));
    if (!this.#server) this.#finish(LB_ERRORS.LB_ERR_CLIENT_ABORTED.termination);
  };

  #answerLocally(response: LocalResponse, close: boolean): void {
    this.#status = response.status;
    if (this.#clientGone) return;
    const headers = [...response.headers];
    this.#responseRules(headers, '');
    this.#down.respond(response.status, '', headers, close || this.#ctx.draining());
    this.#down.end(response.body);
  }

  /** The per-request values header rules may use. */
  #variables(server: string): HeaderVariables {
    return { client_ip: this.#head.clientAddress, request_id: this.#reqId, ssl: this.#ctx.frontend.proto === 'https' ? '1' : '0', server };
  }

  /** Response header rules (frontend, route, backend; our own answers get the frontend's), then HSTS. */
  #responseRules(headers: string[], server: string): void {
    const frontend = this.#ctx.frontend;
    const route = this.#routeHeaders;
    const backend = server ? this.#backend?.config.headers.response : undefined;
    if (!isEmpty(frontend.headers.response) || (route && !isEmpty(route.response)) || (backend && !isEmpty(backend))) {
      const vars = this.#variables(server);
      applyHeaderOps(headers, frontend.headers.response, vars);
      if (route) applyHeaderOps(headers, route.response, vars);
      if (backend) applyHeaderOps(headers, backend, vars);
    }
    if (frontend.hsts) setHeader(headers, 'strict-transport-security', frontend.hsts);
  }

  /** Ends the exchange with an error of the table: its status answered (with `extraHeaders`), its termination recorded. */
  #fail(err: LbError, extraHeaders?: readonly string[]): void {
    this.#error ??= err.message;
    const status = err.status ?? 502;
    const page = this.#ctx.errorPages?.response(status, this.#ctx.frontend.name, this.#backend?.name ?? null);
    const response = page ?? errorResponse(status);
    this.#answerLocally(
      extraHeaders ? { ...response, headers: [...response.headers, ...extraHeaders] } : response,
      closesConnection(status),
    );
    this.#finish(err.termination ?? LB_ERRORS.LB_ERR_INTERNAL.termination);
  }

  #internalError(err: unknown): void {
    this.#ctx.logger.error({ reqId: this.#reqId, err }, 'request failed unexpectedly');
    this.#releaseServer();
    if (this.#finished) return;
    if (this.#responseStarted) {
      this.#down.abort();
      this.#finish(LB_ERRORS.LB_ERR_INTERNAL.termination);
      return;
    }
    try {
      this.#fail(new LbError('LB_ERR_INTERNAL', err instanceof Error ? err.message : String(err)));
    } catch {
      this.#down.abort();
      this.#finish(LB_ERRORS.LB_ERR_INTERNAL.termination);
    }
  }

  #finish(termination: Termination): void {
    if (this.#finished) return;
    this.#finished = true;
    const head = this.#head;
    this.#ctx.observer.requestDone({
      reqId: this.#reqId,
      frontend: this.#ctx.frontend.name,
      route: this.#route,
      backend: this.#backend?.name ?? '',
      server: this.#lastServer?.name ?? '',
      clientAddress: head.clientAddress,
      clientPort: head.clientPort,
      method: head.method,
      path: head.target,
      httpVersion: head.httpVersion,
      status: this.#status,
      bytesOut: this.#bytesOut,
      bytesIn: this.#bytesIn,
      queueMs: toMicroseconds(this.#queueMs),
      connectMs: toMicroseconds(this.#connectMs),
      responseMs: toMicroseconds(this.#responseMs),
      totalMs: toMicroseconds(performance.now() - this.#startedAt),
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
