// WebSocket tunnels: an `Upgrade: websocket` request goes to the server the balancer
// picks; a 101 joins the two sockets, any other answer is relayed as a normal
// response and the connection closed. Idle tunnels obey timeouts.client.
import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import type { UpstreamServer } from '../backend/server.js';
import type { Backend } from '../backend/backend.js';
import { downstreamResponseHeaders, inBlockList, plainAddress, upstreamRequestHeaders } from './headers.js';
import type { FrontendRoute } from './handler.js';
import { rawErrorResponse } from './responses.js';
import type { FrontendFacts, TransactionObserver } from './transaction.js';
import type { NoCookie, RequestCookieState, Termination } from './access-record.js';
import { classifyUpstreamError, TERMINATION_OF_FAILURE, upstreamLbError } from './upstream-error.js';

export interface UpgradeOptions {
  readonly frontend: FrontendFacts;
  readonly route: FrontendRoute;
  readonly clientTimeoutMs: number;
  readonly logger: Logger;
  /** Gets one access record per upgrade request, when its client connection closes. */
  readonly observer: TransactionObserver;
  readonly idPrefix: string;
}

/** What a tunnel's access record is made from, filled in as the tunnel goes. */
interface TunnelFacts {
  status: number;
  server: string;
  termination: Termination;
  error: string | undefined;
  bytesIn: number;
  bytesOut: number;
  cookieIn: RequestCookieState | NoCookie;
}

function responseHead(status: number, statusText: string, headers: readonly string[], extra: string): string {
  let head = `HTTP/1.1 ${status} ${statusText || STATUS_CODES[status] || ''}\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return head + extra + '\r\n';
}

/** Builds the `upgrade` listener of one frontend. */
export function createUpgradeHandler(options: UpgradeOptions): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const { frontend, route, clientTimeoutMs, logger, observer } = options;

  let sequence = 0;
  const facts = new WeakMap<Duplex, TunnelFacts>();

  return function handleUpgrade(req, client, head) {
    client.on('error', () => client.destroy());
    const startedAt = performance.now();
    const reqId = `${options.idPrefix}ws${(++sequence).toString(36)}`;
    const tunnelFacts: TunnelFacts = { status: 0, server: '', termination: 'normal', error: undefined, bytesIn: 0, bytesOut: 0, cookieIn: '-' };
    const clientAddress = plainAddress(req.socket.remoteAddress);
    const clientPort = req.socket.remotePort ?? 0;
    facts.set(client, tunnelFacts);
    // Every path ends with the client connection closing: one access record then.
    client.once('close', () =>
      options.observer.requestDone({
        reqId,
        frontend: frontend.name,
        backend: route.kind === 'backend' ? route.backend.name : '',
        server: tunnelFacts.server,
        clientAddress,
        clientPort,
        method: req.method ?? 'GET',
        path: req.url ?? '',
        httpVersion: req.httpVersion,
        status: tunnelFacts.status,
        bytesOut: tunnelFacts.bytesOut,
        bytesIn: tunnelFacts.bytesIn,
        queueMs: -1,
        connectMs: -1,
        responseMs: -1,
        totalMs: performance.now() - startedAt,
        serverQueueAhead: 0,
        backendQueueAhead: 0,
        termination: tunnelFacts.status === 0 ? 'client-aborted' : tunnelFacts.termination,
        retries: 0,
        redispatched: false,
        cookieIn: tunnelFacts.cookieIn,
        // A tunnel's 101 never carries our cookie.
        cookieOut: tunnelFacts.cookieIn === '-' ? '-' : 'N',
        error: tunnelFacts.error,
      }),
    );
    try {
      startUpgrade(req, client, head);
    } catch (err) {
      failed(client, err);
    }
  };

  /** Answers a balancer error on the raw connection and notes it for the access record. */
  function refuse(client: Duplex, status: number, termination: Termination, error?: string) {
    const f = facts.get(client);
    if (f) Object.assign(f, { status, termination, error });
    client.end(rawErrorResponse(status));
  }

  /** A bug of ours costs one connection, never a hung client or the process. */
  function failed(client: Duplex, err: unknown) {
    logger.error({ frontend: frontend.name, err }, 'websocket upgrade failed unexpectedly');
    if (client.destroyed) return;
    if (client.writable) refuse(client, 500, 'internal-error', (err as Error)?.message);
    else client.destroy();
  }

  function startUpgrade(req: IncomingMessage, client: Duplex, head: Buffer) {
    if (route.kind !== 'backend' || req.headers.upgrade?.toLowerCase() !== 'websocket' || req.method !== 'GET') {
      refuse(client, 400, 'bad-request', 'not a websocket upgrade');
      return;
    }
    const backend = route.backend;
    const clientAddress = plainAddress(req.socket.remoteAddress);
    let preferred: UpstreamServer | undefined;
    if (backend.persistence) {
      const found = backend.persistence.cookie.lookup(req.headers.cookie, Date.now());
      const server = found.flag === 'V' ? backend.servers[found.serverIndex] : undefined;
      if (server?.takesCookieHolders()) preferred = server;
      const f = facts.get(client);
      if (f) f.cookieIn = server && !preferred ? 'D' : found.flag;
    }
    const placement = backend.place({ clientAddress, preferred });
    if (placement.kind === 'none') {
      refuse(client, 503, 'no-server');
      return;
    }
    if (placement.kind === 'wait') {
      client.once('close', placement.pending.cancel);
      placement.pending.promise.then(
        (server) => {
          client.off('close', placement.pending.cancel);
          if (client.destroyed) backend.release(server);
          else tunnel(backend, server, req, client, head, clientAddress);
        },
        () => refuse(client, 503, 'queue-timeout'),
      ).catch((err: unknown) => failed(client, err));
      return;
    }
    tunnel(backend, placement.server, req, client, head, clientAddress);
  }

  function tunnel(backend: Backend, server: UpstreamServer, req: IncomingMessage, client: Duplex, head: Buffer, clientAddress: string) {
    let released = false;
    const release = () => {
      if (!released) {
        released = true;
        backend.release(server);
      }
    };
    let headers: string[];
    try {
      headers = forwardedHeaders(backend, req, clientAddress);
    } catch (err) {
      release();
      throw err;
    }
    let abort: ((err?: Error) => void) | null = null;
    let answered = false;
    const record = facts.get(client)!;
    record.server = server.name;
    client.once('close', () => abort?.(new Error('client closed')));

    const handler: Dispatcher.DispatchHandler = {
      onConnect(fn) {
        abort = fn;
        if (client.destroyed) fn(new Error('client closed'));
      },
      onUpgrade(statusCode, rawHeaders, upstreamDuplex: Duplex) {
        const upstream = upstreamDuplex as Socket;
        abort = null;
        record.status = statusCode;
        observer.attemptDone(server, null, statusCode);
        upstream.on('data', (chunk: Buffer) => (record.bytesOut += chunk.length));
        (client as Socket).on('data', (chunk: Buffer) => (record.bytesIn += chunk.length));
        const passed = downstreamResponseHeaders(rawHeaders ?? []).headers;
        client.write(responseHead(statusCode, 'Switching Protocols', passed, 'Connection: Upgrade\r\nUpgrade: websocket\r\n'));
        if (head.length > 0) upstream.write(head);
        const close = () => {
          client.destroy();
          upstream.destroy();
          release();
        };
        for (const socket of [client as Socket, upstream]) {
          socket.setTimeout(clientTimeoutMs, close);
          socket.on('error', close);
          socket.on('close', close);
        }
        upstream.pipe(client);
        client.pipe(upstream);
      },
      onHeaders(statusCode, rawHeaders, resume, statusText) {
        // Not upgraded: relay as an ordinary response, then close.
        const passed = downstreamResponseHeaders(rawHeaders).headers;
        answered = true;
        record.status = statusCode;
        observer.attemptDone(server, null, statusCode);
        // onData returning false pauses undici; the client draining must resume it.
        client.on('drain', resume);
        return client.write(responseHead(statusCode, statusText, passed, 'Connection: close\r\n'));
      },
      onData(chunk) {
        record.bytesOut += chunk.length;
        return client.write(chunk);
      },
      onComplete() {
        release();
        client.end();
      },
      onError(err) {
        release();
        if (client.destroyed) return;
        if (answered) {
          record.termination = 'server-aborted';
          client.destroy();
          return;
        }
        const failure = classifyUpstreamError(err);
        observer.attemptDone(server, failure, 0);
        refuse(client, upstreamLbError(failure, err).status, TERMINATION_OF_FAILURE[failure.kind], failure.reason);
      },
    };
    try {
      server.pool.dispatch({ path: req.url ?? '/', method: 'GET', headers, upgrade: 'websocket', body: null }, handler);
    } catch (err) {
      release();
      throw err;
    }
  }

  /** The upstream request headers: hop-by-hop removed, X-Forwarded-*, our cookie stripped. */
  function forwardedHeaders(backend: Backend, req: IncomingMessage, clientAddress: string): string[] {
    return upstreamRequestHeaders(
      req.rawHeaders,
      {
        clientAddress,
        proto: frontend.proto,
        port: frontend.port,
        trustClientChain: inBlockList(backend.forwardTrusted, clientAddress),
        omitForwardedFor: inBlockList(backend.forwardExcept, clientAddress),
      },
      backend.persistence?.config.indirect ? backend.persistence.strip : undefined,
      req.headers.connection,
    ).headers;
  }
}
