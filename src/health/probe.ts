// One active health check: a fresh connection to the server (so a rotated certificate or a
// changed pin is seen at once, as HAProxy does), one GET, the status compared, everything closed.
import { isIP, Socket } from 'node:net';
import { Client } from 'undici';
import type { CheckConfig, ServerConfig } from '../config/types.js';
import { classifyUpstreamError } from '../upstream/classify.js';
import { expectedServerName, type Connector } from '../tls/upstream.js';

/** What one probe found: `reason` is `ok`, `http 503`, `timeout`, or an upstream failure such as `tls: pin mismatch`. */
export interface ProbeResult {
  readonly ok: boolean;
  /** The response status, null when no response arrived. */
  readonly status: number | null;
  readonly durationMs: number;
  readonly reason: string;
}

/** The signature of probeServer, so the checker can be given another probe at its own seam. */
export type Probe = (server: ServerConfig, check: CheckConfig, connector: Connector) => Promise<ProbeResult>;

const USER_AGENT = 'doorman-health-check';
/** A check answer larger than this is cut off; only its status matters. */
const BODY_LIMIT_BYTES = 64 * 1024;
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

function bracketed(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

type Outcome = { readonly status: number } | { readonly err: unknown; readonly status: number | null } | 'timeout';

/**
 * Wraps the connector to remember every socket it opens, so a probe that gives up can
 * destroy one still in its TCP or TLS handshake (undici's destroy() does not wait for it).
 */
function trackSockets(connector: Connector, sockets: Set<Socket>): Connector {
  return (options, callback) => {
    const returned: unknown = connector(options, (...args) => {
      if (args[1]) sockets.add(args[1]);
      callback(...args);
    });
    if (returned instanceof Socket) sockets.add(returned);
  };
}

/** Runs one check against `server`; never throws, and leaves no socket open behind it. */
export async function probeServer(server: ServerConfig, check: CheckConfig, connector: Connector): Promise<ProbeResult> {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  const sockets = new Set<Socket>();
  const controller = new AbortController();
  const client = new Client(`http://${bracketed(server.address.host)}:${server.address.port}`, {
    connect: trackSockets(connector, sockets),
    headersTimeout: check.timeoutMs,
    bodyTimeout: check.timeoutMs,
    pipelining: 1,
    allowH2: server.protocol === 'h2',
  });

  let status: number | null = null;
  const exchange = (async (): Promise<Outcome> => {
    try {
      const response = await client.request({
        method: 'GET',
        path: check.path,
        headers: {
          host: bracketed(expectedServerName(server)),
          'user-agent': USER_AGENT,
          connection: 'close',
        },
        signal: controller.signal,
      });
      status = response.statusCode;
      await response.body.dump({ limit: BODY_LIMIT_BYTES, signal: controller.signal });
      return { status: response.statusCode };
    } catch (err) {
      return { err, status };
    }
  })();

  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), check.timeoutMs);
  });
  const outcome = await Promise.race([exchange, deadline]);
  clearTimeout(timer);
  const durationMs = elapsed();

  if (outcome !== 'timeout' && !('err' in outcome)) {
    await client.close().catch(() => client.destroy().catch(() => undefined));
    const ok = outcome.status === check.expect;
    return { ok, status: outcome.status, durationMs, reason: ok ? 'ok' : `http ${outcome.status}` };
  }

  controller.abort();
  await client.destroy().catch(() => undefined);
  for (const socket of sockets) socket.destroy();
  if (outcome === 'timeout') return { ok: false, status, durationMs, reason: 'timeout' };
  const code = (outcome.err as { code?: unknown } | null)?.code;
  const reason = typeof code === 'string' && TIMEOUT_CODES.has(code) ? 'timeout' : classifyUpstreamError(outcome.err).message;
  return { ok: false, status: outcome.status, durationMs, reason };
}
