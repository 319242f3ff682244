// Runs a Doorman in the test process from a config object, with its certificates
// written to a temp folder and its log lines collected in memory.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { createLoadBalancer, type LoadBalancer } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/log.js';
import type { Issued } from '../../src/dev/pki.js';

/** A temp folder to put a test's files in. */
export function tempDir(prefix = 'doorman-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes a PEM pair as NAME.crt / NAME.key into `dir`; returns the file names. */
export function writePair(dir: string, name: string, pair: Issued): { cert: string; key: string } {
  writeFileSync(join(dir, `${name}.crt`), pair.cert);
  writeFileSync(join(dir, `${name}.key`), pair.key);
  return { cert: `${name}.crt`, key: `${name}.key` };
}

export interface RunningLb {
  readonly lb: LoadBalancer;
  readonly dir: string;
  /** Parsed JSON log lines, in order; a line that is not JSON (HAProxy httplog) is kept as `{ raw }`. */
  readonly logs: Record<string, unknown>[];
  port(frontend?: string): number;
  close(): Promise<void>;
}

/** Parses `config` (a plain object, written as YAML into `dir`) and starts a balancer. */
export async function startLb(config: Record<string, unknown>, dir: string): Promise<RunningLb> {
  const file = join(dir, 'lb.yaml');
  const text = stringify({ admin: null, ...config });
  writeFileSync(file, text);
  const parsed = parseConfig(text, file);
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) {
        if (line) logs.push(line.startsWith('{') ? (JSON.parse(line) as Record<string, unknown>) : { raw: line });
      }
      done();
    },
  });
  const { logger, accessLogger, writeLine } = createLogger({ level: 'debug' }, sink);
  const lb = createLoadBalancer(parsed, { logger, accessLogger, accessLine: writeLine });
  await lb.listen();
  return {
    lb,
    dir,
    logs,
    port: (frontend = parsed.frontends[0]!.name) => lb.port(frontend),
    close: () => lb.close(),
  };
}

/** A server entry for `startProxy`: a backend and the TLS settings the balancer uses for it. */
export interface ProxyServer {
  readonly name: string;
  readonly address: string;
  /** The backend's certificate written as its trust anchor; omit for plain HTTP. */
  readonly trust?: Issued;
  readonly servername?: string;
  readonly pins?: readonly string[];
  readonly extra?: Record<string, unknown>;
}

export interface ProxyOptions {
  /** Extra keys for the backend. */
  readonly backend?: Record<string, unknown>;
  /** Extra top-level keys (timeouts, log, ...). */
  readonly top?: Record<string, unknown>;
  /** Extra keys for the https frontend. */
  readonly frontend?: Record<string, unknown>;
  /** Also open a plain http frontend named `http`. */
  readonly plain?: boolean;
}

/** Starts a balancer with an https frontend `https` (front cert from `front`) and one backend `web`. */
export async function startProxy(front: Issued, servers: readonly ProxyServer[], options: ProxyOptions = {}): Promise<RunningLb> {
  const dir = tempDir();
  const frontFiles = writePair(dir, 'front', front);
  const frontends: Record<string, unknown>[] = [
    { name: 'https', bind: '127.0.0.1:0', tls: { certs: [frontFiles] }, backend: 'web', ...options.frontend },
  ];
  if (options.plain) frontends.push({ name: 'http', bind: '127.0.0.1:0', backend: 'web' });
  return startLb(
    {
      ...options.top,
      frontends,
      backends: [
        {
          name: 'web',
          ...options.backend,
          servers: servers.map((s) => ({
            name: s.name,
            address: s.address,
            ...(s.trust
              ? {
                  tls: {
                    ca: writePair(dir, `ca-${s.name}`, s.trust).cert,
                    servername: s.servername ?? s.name,
                    pins: s.pins ?? [],
                  },
                }
              : {}),
            ...s.extra,
          })),
        },
      ],
    },
    dir,
  );
}
