// Test helpers for the admin surfaces: calls to the admin API of a running balancer,
// a small Prometheus text parser, and an HTTPS backend restarted on a given port.
import https from 'node:https';
import type http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { RunningLb } from './lb.js';
import { DEFAULT_DEADLINE_MS, waitFor } from './wait.js';

/** One answer of the admin listener. */
export interface AdminReply {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON, undefined when it is not JSON. */
  readonly json: unknown;
}

/** The admin URL of a running balancer (it must have been started with `admin.bind`). */
export function adminUrl(running: RunningLb): string {
  const port = running.lb.adminPort();
  if (port === undefined) throw new Error('this balancer has no admin listener');
  return `http://127.0.0.1:${port}`;
}

/** One request to the admin listener; `body` objects are sent as JSON, strings as they are. */
export async function admin(
  running: RunningLb,
  path: string,
  options: { method?: string; body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<AdminReply> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${adminUrl(running)}${path}`, { method: options.method ?? 'GET', headers, body });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/** A server as GET /api/state shows it (the fields the tests read). */
export interface StateServer {
  name: string;
  address: string;
  state: string;
  adminState: string;
  health: string;
  active: number;
  queued: number;
  weight: number;
  effectiveWeight: number;
  lastCheck: { status: string; code: number | null; durationMs: number; reason: string; at: string } | null;
  lastChange: string;
  requests: number;
  errors: number;
}

/** GET /api/state, answered 200. */
export async function apiState(running: RunningLb, token?: string): Promise<{ backends: Array<{ name: string; servers: StateServer[] }> }> {
  const reply = await admin(running, '/api/state', token === undefined ? {} : { token });
  if (reply.status !== 200) throw new Error(`/api/state answered ${reply.status}: ${reply.text}`);
  return reply.json as { backends: Array<{ name: string; servers: StateServer[] }> };
}

/** One server of GET /api/state. */
export async function apiServer(running: RunningLb, backend: string, server: string): Promise<StateServer> {
  const state = await apiState(running);
  const found = state.backends.find((b) => b.name === backend)?.servers.find((s) => s.name === server);
  if (!found) throw new Error(`no ${backend}/${server} in /api/state`);
  return found;
}

/** One sample of the Prometheus text format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** Parses the Prometheus text exposition format (enough of it for tests: no timestamps). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]!] = pair[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** GET /metrics, parsed. */
export async function scrape(running: RunningLb): Promise<Sample[]> {
  const reply = await admin(running, '/metrics');
  if (reply.status !== 200) throw new Error(`/metrics answered ${reply.status}`);
  return parseMetrics(reply.text);
}

/** The sum of the samples called `name` whose labels include `labels`; undefined when none matches. */
export function metric(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const matching = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return matching.length === 0 ? undefined : matching.reduce((sum, s) => sum + s.value, 0);
}

/** An HTTPS server on a fixed port (a backend coming back where it was). */
export interface PortServer {
  readonly server: https.Server;
  /** Requests it received, by path. */
  readonly paths: string[];
  close(): Promise<void>;
}

/**
 * Listens on `port` exactly, retrying briefly while the old socket still holds it
 * (EADDRINUSE); `handler` answers every request.
 */
export async function listenOnPort(
  tlsPair: { cert: string; key: string },
  port: number,
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<PortServer> {
  const paths: string[] = [];
  const sockets = new Set<Socket>();
  const server = https.createServer({ ...tlsPair }, (req, res) => {
    paths.push(req.url ?? '');
    handler(req, res);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await waitFor(
    () =>
      new Promise<boolean>((resolve, reject) => {
        // EADDRINUSE: the old socket still holds the port; try again on the next poll.
        const failed = (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' ? resolve(false) : reject(err));
        server.once('error', failed);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', failed);
          resolve(true);
        });
      }),
    DEFAULT_DEADLINE_MS,
    `port ${port} to be free`,
  );
  if ((server.address() as AddressInfo).port !== port) throw new Error('listened on the wrong port');
  return {
    server,
    paths,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      }),
  };
}
