// Test backends: real HTTPS (or HTTP) servers on 127.0.0.1 port 0 that record what
// they receive and answer as each test tells them.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

export type BackendHandler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

export interface TestBackend {
  readonly name: string;
  readonly port: number;
  readonly address: string;
  readonly requests: SeenRequest[];
  /** TCP connections accepted (TLS handshakes included, successful or not). */
  connections: number;
  server: http.Server;
  setHandler(handler: BackendHandler): void;
  close(): Promise<void>;
}

export interface BackendOptions {
  readonly name: string;
  /** PEM cert and key; absent: plain HTTP. */
  readonly tls?: { cert: string; key: string };
  readonly handler?: BackendHandler;
  /** A fixed port, for a server that stops and comes back where it was (from ports.ts's freePort); default: any. */
  readonly port?: number;
}

/** Default answer: 200 with `backend=<name>` and the request's path. */
function defaultHandler(name: string): BackendHandler {
  return (req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', 'x-backend': name });
    res.end(`backend=${name} path=${req.url}\n`);
  };
}

/** Starts a backend; it reads each request body whole before calling the handler. */
export async function startBackend(options: BackendOptions): Promise<TestBackend> {
  let handler = options.handler ?? defaultHandler(options.name);
  const requests: SeenRequest[] = [];
  const sockets = new Set<Socket>();
  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body });
      handler(req, res, body);
    });
    req.on('error', () => {});
  };
  const server = options.tls ? https.createServer({ ...options.tls }, onRequest) : http.createServer(onRequest);
  const backend: TestBackend = {
    name: options.name,
    port: 0,
    address: '',
    requests,
    connections: 0,
    server,
    setHandler(next) {
      handler = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      }),
  };
  server.on('connection', (socket: Socket) => {
    backend.connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(backend, { port, address: `127.0.0.1:${port}` });
  return backend;
}

/** A TLS (or TCP) server whose every connection is handed to `onConnection`: for malformed responses. */
export async function startRawBackend(
  tlsPair: { cert: string; key: string } | undefined,
  onConnection: (socket: Socket, index: number) => void,
): Promise<{ address: string; connections: () => number; close: () => Promise<void> }> {
  const { default: tls } = await import('node:tls');
  const { default: net } = await import('node:net');
  let count = 0;
  const sockets = new Set<Socket>();
  const handle = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket, count++);
  };
  const server = tlsPair ? tls.createServer(tlsPair, handle) : net.createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
