// Test clients: an HTTPS request helper that verifies the balancer's certificate,
// and a raw TLS/TCP exchange for malformed requests.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

export interface RequestOptions {
  readonly port: number;
  readonly ca?: string;
  readonly path?: string;
  readonly method?: string;
  readonly headers?: http.OutgoingHttpHeaders | readonly string[];
  readonly body?: string | Buffer;
  readonly servername?: string;
  readonly agent?: http.Agent | false;
  /** Fails the request when the socket is idle this long (default: never). */
  readonly timeoutMs?: number;
}

/** One request to the balancer; https when `ca` is given. Resolves when the body ends. */
export function request(options: RequestOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const common = {
      host: '127.0.0.1',
      port: options.port,
      path: options.path ?? '/',
      method: options.method ?? 'GET',
      headers: options.headers as http.OutgoingHttpHeaders,
      agent: options.agent ?? false,
    };
    const req = options.ca
      ? https.request({ ...common, ca: options.ca, servername: options.servername ?? 'localhost' })
      : http.request(common);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString() }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.timeoutMs) req.setTimeout(options.timeoutMs, () => req.destroy(new Error(`no answer within ${options.timeoutMs}ms`)));
    req.end(options.body);
  });
}

/** Sends raw bytes over TLS (when `ca` is set) or TCP and collects everything until the server closes. */
export function rawExchange(port: number, payload: string, ca?: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = ca ? tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }) : net.connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(Buffer.concat(chunks).toString());
    }, timeoutMs);
    socket.once(ca ? 'secureConnect' : 'connect', () => socket.write(payload));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString());
    });
    socket.on('error', (err: Error) => {
      clearTimeout(timer);
      if (chunks.length > 0) resolve(Buffer.concat(chunks).toString());
      else reject(err);
    });
  });
}

// The wait helpers live in wait.ts; test/browser still imports waitFor from here.
export { waitFor } from './wait.js';
