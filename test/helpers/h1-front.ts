// A rig for Doorman's own HTTP/1.1 front: a real listening socket on 127.0.0.1:0 whose
// connections are served by serveH1Connection, an ExchangeContext over a real Backend
// whose servers run a scripted Upstream (the UpstreamServer factory seam), and a raw
// client that records every byte it receives.
import net from 'node:net';
import tls from 'node:tls';
import pino from 'pino';
import { Backend } from '../../src/backend/backend.js';
import { UpstreamServer } from '../../src/backend/server.js';
import type { BackendConfig, ServerConfig, TimeoutsConfig } from '../../src/config/types.js';
import type { AccessRecord } from '../../src/exchange/access-record.js';
import type { ExchangeContext } from '../../src/exchange/exchange.js';
import { socketAddresses } from '../../src/client-address.js';
import { serveH1Connection, type H1Connection } from '../../src/h1/front/connection.js';
import type { Upstream, UpstreamHandler, UpstreamRequest } from '../../src/upstream/upstream.js';
import { waitFor } from './wait.js';
import { FrontendRouting } from '../../src/exchange/routing.js';

const NO_OPS = { set: [], add: [], remove: [] };
const NO_RULES = { request: NO_OPS, response: NO_OPS };

/** What the fake server does with one attempt. */
export type Script = (request: UpstreamRequest, handler: UpstreamHandler) => void;

/** Reads a request body to its end. */
export async function readBody(request: UpstreamRequest): Promise<string> {
  if (request.body === null) return '';
  const parts: Buffer[] = [];
  for await (const chunk of request.body) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('latin1');
}

/** Answers `METHOD path body` with a Content-Length (or chunked when `chunked`). */
export function echo(options: { chunked?: boolean } = {}): Script {
  return (request, h) => {
    h.onConnect(() => {});
    void readBody(request).then(
      (body) => {
        const text = `${request.method} ${request.path} ${body}`;
        const headers = options.chunked
          ? ['content-type', 'text/plain']
          : ['content-type', 'text/plain', 'content-length', String(Buffer.byteLength(text))];
        h.onResponse(200, 'OK', headers, () => {});
        h.onData(Buffer.from(text));
        h.onComplete([]);
      },
      (err: unknown) => h.onError(err as never),
    );
  };
}

export interface FrontRig {
  readonly port: number;
  readonly backend: Backend;
  readonly attempts: UpstreamRequest[];
  readonly records: AccessRecord[];
  readonly connections: Set<H1Connection>;
  /** Every connection the engine reported closed (through its `closed` setting), in order. */
  readonly closed: H1Connection[];
  readonly clientErrors: number[];
  close(): Promise<void>;
}

const timeouts: TimeoutsConfig = { clientMs: 1000, serverMs: 1000, connectMs: 1000, queueMs: 5000, shutdownMs: 1000, graceMs: 0 };

/** Starts a front whose one server answers every attempt with `script`. */
export async function startFront(script: Script, clientTimeoutMs = 2000, maxconn = 0, tlsOptions?: tls.TlsOptions): Promise<FrontRig> {
  const attempts: UpstreamRequest[] = [];
  const upstream: Upstream = {
    dispatch(request, handler) {
      attempts.push(request);
      script(request, handler);
    },
    recycle() {},
    close: async () => {},
    destroy: async () => {},
  };
  const config = {
    name: 'web',
    balance: 'roundrobin',
    cookie: null,
    retries: 0,
    redispatch: false,
    forwardFor: { except: null, trusted: [] },
    headers: NO_RULES,
    errorPages: {},
    check: null,
    servers: [
      {
        name: 's1',
        address: { host: '127.0.0.1', port: 9 },
        tls: null,
        maxconn,
        weight: 1,
        cookie: 's1',
        proxyProtocol: null,
      } as ServerConfig,
    ],
  } as unknown as BackendConfig;
  const server = new UpstreamServer('web', config.servers[0]!, 0, timeouts, () => upstream);
  const backend = new Backend(config, [server], timeouts);
  const records: AccessRecord[] = [];
  const ctx: ExchangeContext = {
    frontend: { name: 'http', proto: 'http', port: '80', headers: NO_RULES, hsts: null },
    routing: new FrontendRouting([], new Map([['web', backend]]), { kind: 'backend', backend }),
    observer: { attemptDone: () => {}, requestDone: (r) => records.push(r) },
    draining: () => false,
    logger: pino({ level: 'silent' }),
  };
  const connections = new Set<H1Connection>();
  const closed: H1Connection[] = [];
  const clientErrors: number[] = [];
  let ids = 0;
  const serve = (socket: net.Socket) => {
    const conn = serveH1Connection(socket, socketAddresses(socket), {
      context: () => ctx,
      requestId: () => `r${++ids}`,
      clientTimeoutMs,
      headLimits: { maxHeadBytes: 16384, maxHeaders: 100 },
      clientError: (status) => clientErrors.push(status),
      closed: (conn) => {
        closed.push(conn);
        connections.delete(conn);
      },
    });
    connections.add(conn);
  };
  const listener = tlsOptions ? tls.createServer(tlsOptions, serve) : net.createServer(serve);
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const port = (listener.address() as net.AddressInfo).port;
  return {
    port,
    backend,
    attempts,
    records,
    connections,
    closed,
    clientErrors,
    async close() {
      for (const conn of connections) conn.close();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
      await server.destroy();
    },
  };
}

/** A raw client connection that keeps every byte it received. */
export class RawClient {
  readonly socket: net.Socket;
  received = '';
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (this.received += chunk));
    socket.on('error', () => {});
    socket.on('close', () => (this.closed = true));
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  send(text: string | Buffer): void {
    this.socket.write(text);
  }

  /** Waits until the received text satisfies `probe`. */
  async until(probe: (text: string) => boolean, what = 'bytes', timeoutMs?: number): Promise<string> {
    await waitFor(() => probe(this.received), timeoutMs, what);
    return this.received;
  }

  /** Waits for `n` complete responses' status lines. */
  async responses(n: number): Promise<string> {
    return this.until((t) => (t.match(/HTTP\/1\.[01] \d{3} /g) ?? []).length >= n, `${n} responses`);
  }

  async closedByServer(timeoutMs?: number): Promise<string> {
    await waitFor(() => this.closed, timeoutMs, 'the connection to close');
    return this.received;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
