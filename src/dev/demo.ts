#!/usr/bin/env node
// `npm start`: the demo. Makes the dev certificates if missing, starts two HTTPS demo
// servers (web1, web2) and a Doorman in front of them, all in this process, from a
// config written to var/demo.yaml; prints the URLs to try.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLoadBalancer, type LoadBalancer } from '../app.js';
import { loadConfig } from '../config/load.js';
import { createLogger, type LogOutput } from '../log.js';
import { handleStopSignals } from '../process-signals.js';
import { spkiPin } from '../tls/pin.js';
import { formatCertsReport, makeCerts, pairFiles, DEFAULT_CERT_DIR, type MakeCertsResult } from './make-certs.js';
import { isMainModule } from './is-main.js';

/** `var/` at the project root (gitignored), where the demo config is written. */
export const DEFAULT_VAR_DIR = fileURLToPath(new URL('../../var/', import.meta.url));

/** The ports the demo binds on 127.0.0.1. */
export interface DemoPorts {
  readonly web1: number;
  readonly web2: number;
  readonly https: number;
  readonly http: number;
  readonly admin: number;
}

/** SPEC.md's ports; web1 and web2 fall back to a free port when theirs is taken. */
export const DEMO_PORTS: DemoPorts = { web1: 9441, web2: 9442, https: 8443, http: 8080, admin: 9090 };

export interface DemoOptions {
  /** Where the certificates are (made if missing); default certs/. */
  readonly certDir?: string;
  /** Where demo.yaml is written; default var/. */
  readonly varDir?: string;
  /** 0: every listener on an ephemeral port (tests); default DEMO_PORTS. */
  readonly ports?: 0 | DemoPorts;
  /** Default: JSON lines on stdout at level info. */
  readonly log?: LogOutput;
}

/** A running demo: the servers, the balancer, and what to try. */
export interface Demo {
  readonly lb: LoadBalancer;
  /** Absolute path of the config the balancer was started from. */
  readonly configFile: string;
  readonly certs: MakeCertsResult;
  /** The port each demo server listens on, by name. */
  readonly serverPorts: Readonly<Record<DemoServerName, number>>;
  /** The commands and URLs to try, one per line. */
  readonly tryLines: readonly string[];
  /** Stops the balancer (letting requests finish), then the demo servers; later calls wait for the first. */
  shutdown(): Promise<void>;
}

type DemoServerName = 'web1' | 'web2';
const SERVER_NAMES: readonly DemoServerName[] = ['web1', 'web2'];
const COOKIE_NAME = 'WEBSERVERID';

/** Starts the whole demo; the CLI entry below and the tests both use it. */
export async function startDemo(options: DemoOptions = {}): Promise<Demo> {
  const certDir = path.resolve(options.certDir ?? DEFAULT_CERT_DIR);
  const varDir = path.resolve(options.varDir ?? DEFAULT_VAR_DIR);
  const ports = options.ports ?? DEMO_PORTS;
  const log = options.log ?? createLogger({ level: 'info' });
  const { logger } = log;

  const certs = await makeCerts({ dir: certDir });
  const servers: Server[] = [];
  const closeServers = () => Promise.all(servers.map(closeServer));
  try {
    const serverPorts = {} as Record<DemoServerName, number>;
    const pins = {} as Record<DemoServerName, string>;
    for (const name of SERVER_NAMES) {
      const files = pairFiles(certDir, name);
      const [cert, key] = await Promise.all([readFile(files.cert, 'utf8'), readFile(files.key, 'utf8')]);
      const server = createServer({ cert, key }, demoPage(name));
      servers.push(server);
      serverPorts[name] = await listenOrFallback(server, ports === 0 ? 0 : ports[name]);
      pins[name] = spkiPin(cert); // computed on every start: regenerated certificates need no edit
    }

    await mkdir(varDir, { recursive: true });
    const configFile = path.join(varDir, 'demo.yaml');
    await writeFile(configFile, demoConfig({ varDir, certDir, ports, serverPorts, pins }));

    const config = await loadConfig(configFile);
    const lb = createLoadBalancer(config, { logger, accessLogger: log.accessLogger, accessLine: log.writeLine });
    try {
      await lb.listen();
    } catch (err) {
      await lb.close();
      throw explainListenError(err);
    }
    let stopped: Promise<void> | undefined;
    return {
      lb,
      configFile,
      certs,
      serverPorts,
      tryLines: tryLines(lb, certDir, varDir, ports === 0 ? 0 : ports.admin),
      shutdown() {
        stopped ??= lb
          .shutdown()
          .then(closeServers)
          .then(() => undefined);
        return stopped;
      },
    };
  } catch (err) {
    await closeServers();
    throw err;
  }
}

// ---- demo servers ------------------------------------------------------------------------

// Each answer says which server answered, the X-Forwarded-For it saw, and whether the
// persistence cookie reached it (it should not: `indirect` strips it). HTML for browsers.
function demoPage(name: DemoServerName): (req: IncomingMessage, res: ServerResponse) => void {
  let served = 0;
  return (req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('ok\n');
      return;
    }
    served += 1;
    const cookieArrived = (req.headers.cookie ?? '').split(';').some((c) => c.trim().startsWith(`${COOKIE_NAME}=`));
    const facts: [string, string][] = [
      ['server', name],
      ['request', `${req.method ?? ''} ${req.url ?? ''}`],
      ['requests served by this server', String(served)],
      ['X-Forwarded-For', header(req, 'x-forwarded-for')],
      ['X-Forwarded-Proto', header(req, 'x-forwarded-proto')],
      [
        `${COOKIE_NAME} cookie arrived`,
        cookieArrived ? 'yes (it should have been stripped!)' : 'no (stripped by the balancer, as it should be)',
      ],
    ];
    const html = (req.headers.accept ?? '').includes('text/html');
    const body = html
      ? `<!doctype html><meta charset="utf-8"><title>Doorman demo: ${name}</title>` +
        `<h1>Hello from ${name}</h1><table>` +
        facts.map(([k, v]) => `<tr><th align="left">${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('') +
        '</table><p>Reload: the WEBSERVERID cookie keeps you on this server.</p>\n'
      : `Hello from ${name}\n` + facts.map(([k, v]) => `  ${k}: ${v}\n`).join('');
    res.writeHead(200, {
      'content-type': `${html ? 'text/html' : 'text/plain'}; charset=utf-8`,
      'content-length': Buffer.byteLength(body),
      'x-demo-server': name,
    });
    res.end(body);
  };
}

function header(req: IncomingMessage, name: string): string {
  const value = req.headers[name];
  return value === undefined ? '(none)' : Array.isArray(value) ? value.join(', ') : value;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// Listens on 127.0.0.1:port, or on a free port when that one is taken.
async function listenOrFallback(server: Server, port: number): Promise<number> {
  const listen = (p: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        server.off('error', reject);
        resolve((server.address() as AddressInfo).port);
      });
    });
  try {
    return await listen(port);
  } catch (err) {
    if (port === 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    return listen(0);
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function explainListenError(err: unknown): Error {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e.code === 'EADDRINUSE' && e.port !== undefined) {
    return new Error(`${e.address ?? '127.0.0.1'}:${e.port} is already in use (another npm start?); stop that process and retry`);
  }
  return e instanceof Error ? e : new Error(String(err));
}

// ---- config --------------------------------------------------------------------------------

interface ConfigFacts {
  readonly varDir: string;
  readonly certDir: string;
  readonly ports: 0 | DemoPorts;
  readonly serverPorts: Readonly<Record<DemoServerName, number>>;
  readonly pins: Readonly<Record<DemoServerName, string>>;
}

// SPEC.md's example config, pointed at the demo's certificates and servers.
function demoConfig({ varDir, certDir, ports, serverPorts, pins }: ConfigFacts): string {
  // Paths in the config are relative to its folder; JSON strings are valid YAML scalars.
  const file = (name: string) => JSON.stringify(path.relative(varDir, path.join(certDir, name)).split(path.sep).join('/'));
  const bind = (port: number) => `127.0.0.1:${port}`;
  const p = ports === 0 ? { https: 0, http: 0, admin: 0 } : ports;
  const server = (name: DemoServerName) => `
      - name: ${name}
        address: ${bind(serverPorts[name])}
        tls:                          # re-encrypt to the server and trust only its own certificate
          ca: ${file(`${name}.crt`)}
          servername: ${name}              # SNI, and the name checked against the certificate
          pins: [${JSON.stringify(pins[name])}]   # its SPKI sha256: a new key fails closed
        maxconn: 5000
        weight: 1
        cookie: ${name}                   # value of WEBSERVERID for this server`;
  return `# Doorman demo config, written by \`npm start\` (src/dev/demo.ts) on every start:
# edits here are overwritten. Copy it elsewhere and run \`node dist/lb.js -c FILE\` to
# experiment. Paths are relative to this file's folder.
workers: 1
maxconn: 20000
log: { level: info, access: true, format: json }   # one JSON access line per request
metrics: { haproxyCompat: false }
timeouts:
  client: 60s
  server: 60s
  connect: 5s
  queue: 10s
  shutdown: 5s                  # Ctrl-C waits this long at most for requests in flight
admin:
  bind: ${bind(p.admin)}          # /metrics, /stats, /api/...: loopback only, so no token
  token: null
stateFile: state.json           # operator state (MAINT/DRAIN/weight) survives restarts

frontends:
  - name: https
    bind: ${bind(p.https)}
    tls:
      certs:
        - { cert: ${file('lb.crt')}, key: ${file('lb.key')} }   # signed by certs/ca.crt
      minVersion: TLSv1.2
    backend: web
  - name: http
    bind: ${bind(p.http)}
    redirect: https             # 308 to the https frontend

backends:
  - name: web
    balance: leastconn          # new clients go to the server with the fewest requests in flight
    cookie:
      name: ${COOKIE_NAME}
      mode: insert              # the balancer sets the cookie; the servers know nothing of it
      indirect: true            # and strips it before the request reaches a server
      nocache: true             # responses that set it get Cache-Control: private
      httpOnly: true
      secure: auto              # Secure on the https frontend
      secret: null
    retries: 3
    redispatch: true            # a retry may go to the other server
    forwardFor:
      except: null
      trusted: []
    check:
      path: /health
      interval: 2s
      timeout: 1s
      rise: 2
      fall: 3
      expect: 200
    servers:${server('web1')}${server('web2')}
`;
}

// ---- what to try -----------------------------------------------------------------------------

// One line per thing to try, the command first and a comment aligned after it.
function tryLines(lb: LoadBalancer, certDir: string, varDir: string, adminPort: number): string[] {
  const rel = (p: string) => {
    const r = path.relative(process.cwd(), p);
    return r.startsWith('..') ? p : r;
  };
  const ca = rel(path.join(certDir, 'ca.crt'));
  const jar = rel(path.join(varDir, 'cookies.txt'));
  const https = lb.port('https');
  const pairs: [string, string][] = [
    [`curl --cacert ${ca} https://localhost:${https}/`, 'answered by web1 or web2'],
    [`curl --cacert ${ca} -c ${jar} -b ${jar} https://localhost:${https}/`, 'repeat it: sticky to one server'],
    [`curl --http2 -I --cacert ${ca} https://localhost:${https}/`, 'HTTP/2 on the same port'],
    [`curl -i http://localhost:${lb.port('http')}/`, '308 to https'],
    [`https://localhost:${https}/`, `in a browser (trust ${ca}, or accept the warning)`],
  ];
  if (adminPort !== 0) {
    pairs.push([`http://127.0.0.1:${adminPort}/stats`, 'stats page'], [`curl http://127.0.0.1:${adminPort}/metrics`, 'Prometheus metrics']);
  }
  const width = Math.max(...pairs.map(([command]) => command.length));
  return pairs.map(([command, comment]) => `${command.padEnd(width)}   # ${comment}`);
}

// True when something answers HTTP on 127.0.0.1:port within a second.
function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: '/healthz', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

// ---- command line ------------------------------------------------------------------------------

async function main(): Promise<void> {
  const log = createLogger({ level: 'info' });
  const { logger, flush } = log;
  const demo = await startDemo({ log });
  const adminUp = await answers(DEMO_PORTS.admin);
  await flush();
  const wrote = Object.values(demo.certs.pairs).some((pair) => pair.action !== 'kept');
  const out = [
    ...(wrote ? [formatCertsReport(demo.certs)] : []),
    `Doorman demo: web1 on 127.0.0.1:${demo.serverPorts.web1}, web2 on 127.0.0.1:${demo.serverPorts.web2}, config ${path.relative(process.cwd(), demo.configFile)}`,
    'Try:',
    ...demo.tryLines.map((line) => `  ${line}`),
    ...(adminUp ? [] : ['  (nothing answers on the admin address yet in this build: /stats and /metrics will come)']),
    'Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(out.join('\n'));

  handleStopSignals({ logger, flush, shutdown: () => demo.shutdown() });
}

if (isMainModule(import.meta.url)) {
  main().catch((err: unknown) => {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
