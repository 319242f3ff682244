// Doorman from dist/ as its own process with `workers: 1` and every feature on: the
// WEBSERVERID cookie, health checks every 2 s, pinned upstream TLS, the admin server
// (metrics) and the access log. Its stdout (the JSON log) goes to a file, never a pipe.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { startProcess, stopProcess, waitForFile } from '../lib/processes.js';
import { summarizeDoormanLog } from '../lib/doorman-log.js';

// DOORMAN_LB runs another build instead (e.g. a copy of dist/ from before a change, for an A/B run).
const LB = process.env.DOORMAN_LB ?? fileURLToPath(new URL('../../dist/lb.js', import.meta.url));
// DOORMAN_BASE_LB adds the contender `doorman-base`: that build, run in the same rounds
// as `doorman`, so an A/B comparison shares the machine's weather.
const BASE_LB = process.env.DOORMAN_BASE_LB;

/** The bench config: SPEC's keys, ephemeral ports, paths absolute. */
/** `n` routes that no bench request matches (hosts and path prefixes), so every request walks them all. */
function unmatchedRoutes(n) {
  return Array.from({ length: n }, (_, i) =>
    i % 2 === 0
      ? { name: `r${i}`, match: { host: `app${i}.example`, path: `/v${i}/` }, backend: 'web' }
      : { name: `r${i}`, match: { path: `/static${i}/` }, respond: { status: 404 } },
  );
}

export function doormanConfig({ certs, servers, balance, routes = 0 }) {
  return {
    workers: 1,
    log: { level: 'info', access: true, format: 'json' },
    metrics: { haproxyCompat: false },
    timeouts: { client: '60s', server: '60s', connect: '5s', queue: '10s', shutdown: '2s' },
    admin: { bind: '127.0.0.1:0' },
    frontends: [
      {
        name: 'https',
        bind: '127.0.0.1:0',
        tls: { certs: [{ cert: certs.front.cert, key: certs.front.key }], minVersion: 'TLSv1.2' },
        ...(routes > 0 ? { routes: unmatchedRoutes(routes) } : {}),
        backend: 'web',
      },
    ],
    backends: [
      {
        name: 'web',
        balance,
        cookie: { name: 'WEBSERVERID', mode: 'insert', indirect: true, nocache: true, httpOnly: true, secure: 'auto' },
        retries: 3,
        redispatch: true,
        check: { path: '/health', interval: '2s', timeout: '1s', rise: 2, fall: 3, expect: 200 },
        servers: servers.map((s) => ({
          name: s.name,
          address: `127.0.0.1:${s.port}`,
          tls: { ca: certs.caFile, servername: certs.servers[s.name].servername, pins: [certs.servers[s.name].pin] },
          cookie: s.name,
        })),
      },
    ],
  };
}

async function adminGet(port, path) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, text: await res.text() };
}

/** A Doorman contender running the build `lb` (a path to its lb.js, or undefined when not available). */
function doormanContender(name, lb, what) {
  return {
    name,
    describe: () => `${what}, workers: 1, cookie + checks every 2s + pins + metrics + access log (stdout to a file)`,
    balances: ['leastconn', 'roundrobin'],
    available: () => Promise.resolve(lb ? { ok: true } : { ok: false, why: 'DOORMAN_BASE_LB is not set' }),
    start: (options) => startDoorman(name, lb, options),
  };
}

export default doormanContender('doorman', LB, process.env.DOORMAN_LB ? process.env.DOORMAN_LB : 'dist/lb.js');
export const doormanBase = doormanContender('doorman-base', BASE_LB, `${BASE_LB} (DOORMAN_BASE_LB)`);

async function startDoorman(name, lb, { certs, servers, balance, dir, tag, routes }) {
  const configFile = join(dir, `${name}-${tag}.yaml`);
  writeFileSync(configFile, stringify(doormanConfig({ certs, servers, balance, routes })));
  const stdoutFile = join(dir, `${name}-${tag}.log`);
  const stderrFile = join(dir, `${name}-${tag}.err`);
  // DOORMAN_NODE_ARGS adds node flags to Doorman only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof";
  // DOORMAN_BASE_NODE_ARGS, when set, replaces them for doorman-base (flag A/B runs on one build).
  const baseArgs = name === 'doorman-base' ? process.env.DOORMAN_BASE_NODE_ARGS : undefined;
  const nodeArgs = (baseArgs ?? process.env.DOORMAN_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = startProcess(name, process.execPath, [...nodeArgs, lb, '--config', configFile], { stdoutFile, stderrFile });
  const ports = await waitForFile(proc, stdoutFile, (text) => {
    let frontend;
    let admin;
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      const entry = JSON.parse(line);
      if (entry.msg === 'listening' && entry.frontend === 'https') frontend = entry.port;
      if (entry.msg === 'admin listening') admin = entry.port;
    }
    return frontend && admin ? { frontend, admin } : null;
  });
  return {
    port: ports.frontend,
    servername: certs.front.servername,
    pid: proc.pid,
    proc,
    logFile: stdoutFile,
    /** Server states from /api/state, e.g. { web1: 'UP', web2: 'UP' }. */
    async serverStates() {
      const { status, text } = await adminGet(ports.admin, '/api/state');
      if (status !== 200) throw new Error(`/api/state answered ${status}`);
      return Object.fromEntries(JSON.parse(text).backends.flatMap((b) => b.servers.map((s) => [s.name, s.state])));
    },
    /** lb_requests_total by code, summed over servers, from /metrics. */
    async requestsByCode() {
      const { text } = await adminGet(ports.admin, '/metrics');
      const byCode = {};
      for (const line of text.split('\n')) {
        if (!line.startsWith('lb_requests_total{')) continue;
        const code = /code="(\d+)"/.exec(line)?.[1] ?? '?';
        byCode[code] = (byCode[code] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return byCode;
    },
    summarizeLog: () => summarizeDoormanLog(stdoutFile),
    stop: () => stopProcess(proc),
  };
}
