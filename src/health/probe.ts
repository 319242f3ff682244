// One active health check: a fresh connection to the server (so a rotated certificate or a
// changed pin is seen at once, as HAProxy does), one GET, its status compared, everything
// closed as soon as the status is known (only the status matters, as in HAProxy's
// `option httpchk`). HTTP/1.1 is written and parsed by Doorman's own engine (src/h1/);
// an `h2` server is offered h2 by ALPN and asked over node:http2.
import http2 from 'node:http2';
import { isIP, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { CheckConfig, ServerConfig } from '../config/types.js';
import { LbError } from '../errors.js';
import { parseResponseHead } from '../h1/response-head.js';
import { classifyUpstreamError } from '../upstream/classify.js';
import { expectedServerName, type Dialer } from '../tls/upstream.js';

/** What one probe found: `reason` is `ok`, `http 503`, `timeout`, or an upstream failure such as `tls: pin mismatch`. */
export interface ProbeResult {
  readonly ok: boolean;
  /** The response status, null when no response arrived. */
  readonly status: number | null;
  readonly durationMs: number;
  readonly reason: string;
}

/** The signature of probeServer, so the checker can be given another probe at its own seam. */
export type Probe = (server: ServerConfig, check: CheckConfig, dial: Dialer) => Promise<ProbeResult>;

const USER_AGENT = 'doorman-health-check';

type Outcome = { readonly status: number } | { readonly err: unknown } | 'timeout';

function bracketed(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** Runs one check against `server`; never throws, and leaves no socket open behind it. */
export async function probeServer(server: ServerConfig, check: CheckConfig, dial: Dialer): Promise<ProbeResult> {
  const started = performance.now();
  const outcome = await exchange(server, check, dial);
  const durationMs = Math.round((performance.now() - started) * 10) / 10;
  if (outcome === 'timeout') return { ok: false, status: null, durationMs, reason: 'timeout' };
  if ('err' in outcome) return { ok: false, status: null, durationMs, reason: classifyUpstreamError(outcome.err).message };
  const ok = outcome.status === check.expect;
  return { ok, status: outcome.status, durationMs, reason: ok ? 'ok' : `http ${outcome.status}` };
}

/** Connects, asks, and settles once: a status, an error, or the check's timeout (connect and handshake included). */
function exchange(server: ServerConfig, check: CheckConfig, dial: Dialer): Promise<Outcome> {
  const h2 = server.protocol === 'h2' && server.tls !== null;
  const socket = dial(h2 ? ['h2', 'http/1.1'] : undefined);
  const host = bracketed(expectedServerName(server));
  return new Promise<Outcome>((resolve) => {
    let session: http2.ClientHttp2Session | null = null;
    let settled = false;
    const settle = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('data');
      session?.destroy();
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => settle('timeout'), check.timeoutMs);
    socket.on('error', (err) => settle({ err }));
    socket.on('close', () => settle({ err: new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: before the response') }));
    if (!h2) {
      askHttp1(socket, host, check.path, settle);
      return;
    }
    // A server that picks http/1.1 over h2 is still checked, over HTTP/1.1.
    socket.once('secureConnect', () => {
      if (socket instanceof TLSSocket && socket.alpnProtocol === 'h2') session = askHttp2(socket, host, check.path, settle);
      else askHttp1(socket, host, check.path, settle);
    });
  });
}

/** GET over HTTP/1.1: the request in one write, the response head parsed as it arrives (1xx skipped). */
function askHttp1(socket: Socket, host: string, path: string, settle: (outcome: Outcome) => void): void {
  let received: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    received = received.length === 0 ? chunk : Buffer.concat([received, chunk]);
    let pos = 0;
    for (;;) {
      const result = parseResponseHead(received, pos);
      if (result.kind === 'partial') {
        received = received.subarray(pos);
        return;
      }
      if (result.kind === 'error') {
        settle({ err: new LbError('LB_ERR_BAD_RESPONSE', `protocol: ${result.code}`) });
        return;
      }
      if (!result.head.informational) {
        settle({ status: result.head.status });
        return;
      }
      pos = result.head.end;
    }
  });
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: ${USER_AGENT}\r\nConnection: close\r\n\r\n`, 'latin1');
}

/** GET over HTTP/2 on the negotiated socket: the status from the response headers. */
function askHttp2(socket: Socket, host: string, path: string, settle: (outcome: Outcome) => void): http2.ClientHttp2Session {
  const session = http2.connect(`https://${host}`, { createConnection: () => socket });
  session.on('error', (err) => settle({ err }));
  const stream = session.request({ ':method': 'GET', ':path': path, ':authority': host, 'user-agent': USER_AGENT }, { endStream: true });
  stream.on('response', (headers) => settle({ status: Number(headers[':status']) }));
  stream.on('error', (err) => settle({ err }));
  stream.on('close', () => settle({ err: new LbError('LB_ERR_UPSTREAM_CLOSED', 'closed: before the response') }));
  return session;
}
