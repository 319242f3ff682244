// HAProxy (when `haproxy` is on PATH) with the configuration equivalent to Doorman's:
// the same certificates, WEBSERVERID cookie insert indirect nocache, verified upstream
// TLS against the same CA, health checks every 2 s, http-reuse always, a stats and
// Prometheus frontend, an httplog access log on stdout (to a file), and one thread
// (nbthread 1) to compare with Doorman's workers: 1.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, readText, startProcess, stopProcess, waitForPort } from '../lib/processes.js';

/** The first line of `haproxy -v`, or null when HAProxy is not on PATH. */
export function haproxyVersion() {
  const run = spawnSync('haproxy', ['-v'], { encoding: 'utf8', timeout: 5000 });
  if (run.error || run.status !== 0) return null;
  return run.stdout.split('\n')[0].trim();
}

/**
 * Doorman's maxconn (20000) when the file-descriptor limit allows it: HAProxy needs
 * two descriptors per connection and refuses to start otherwise.
 */
export function haproxyMaxconn() {
  const run = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8', timeout: 5000 });
  const limit = Number(run.stdout?.trim());
  if (!Number.isFinite(limit)) return 20_000; // "unlimited"
  return Math.max(1000, Math.min(20_000, Math.floor((limit - 100) / 2)));
}

/** haproxy.cfg text for the bench; every choice mirrors a Doorman key. */
export function haproxyConfig({ certs, servers, balance, port, statsPort, maxconn = haproxyMaxconn() }) {
  const serverLines = servers.map((s) => {
    const name = certs.servers[s.name].servername;
    return (
      `    server ${s.name} 127.0.0.1:${s.port} cookie ${s.name} check ` +
      `ssl verify required ca-file ${certs.caFile} sni str(${name}) verifyhost ${name}`
    );
  });
  return `# Written by bench/contenders/haproxy.js for one bench run.
global
    nbthread 1                          # one thread: the peer of Doorman's workers: 1
    maxconn ${maxconn}                       # Doorman's default is 20000; bounded by ulimit -Hn / 2
    log stdout format raw local0 info   # access log on stdout, like Doorman's JSON log
    ssl-server-verify required          # upstream TLS fails closed, as in Doorman
    tune.ssl.default-dh-param 2048

defaults
    mode http
    log global
    option httplog                      # one line per request (Doorman: log.access: true)
    option forwardfor                   # X-Forwarded-For (Doorman adds it and X-Forwarded-*)
    option redispatch                   # redispatch: true
    retries 3                           # retries: 3
    timeout connect 5s                  # timeouts.connect
    timeout client 60s                  # timeouts.client
    timeout server 60s                  # timeouts.server
    timeout queue 10s                   # timeouts.queue
    timeout http-keep-alive 60s         # Doorman's idle client connection limit is timeouts.client
    timeout http-request 60s

frontend https
    bind 127.0.0.1:${port} ssl crt ${certs.front.pem} ssl-min-ver TLSv1.2 alpn h2,http/1.1   # Doorman's alpn default
    http-request set-header X-Forwarded-Proto https
    default_backend web

frontend admin                           # Doorman's admin.bind: /metrics and /stats
    bind 127.0.0.1:${statsPort}
    http-request use-service prometheus-exporter if { path /metrics }
    stats enable
    stats uri /stats

backend web
    balance ${balance}
    cookie WEBSERVERID insert indirect nocache httponly secure
    http-reuse always                   # share idle upstream connections between clients
    option httpchk GET /health
    http-check expect status 200
    default-server inter 2s fall 3 rise 2
${serverLines.join('\n')}
`;
}

export default {
  name: 'haproxy',
  describe: () =>
    `${haproxyVersion() ?? 'haproxy'}, nbthread 1, equivalent config (cookie, checks, verify required, http-reuse always, httplog to a file)`,
  balances: ['leastconn', 'roundrobin'],
  available() {
    return Promise.resolve(haproxyVersion() ? { ok: true } : { ok: false, why: 'haproxy is not on PATH' });
  },
  async start({ certs, servers, balance, dir, tag }) {
    const port = await freePort();
    const statsPort = await freePort();
    const configFile = join(dir, `haproxy-${tag}.cfg`);
    writeFileSync(configFile, haproxyConfig({ certs, servers, balance, port, statsPort }));
    const check = spawnSync('haproxy', ['-c', '-q', '-f', configFile], { encoding: 'utf8', timeout: 10_000 });
    if (check.status !== 0) throw new Error(`haproxy -c rejected ${configFile}:\n${check.stdout}${check.stderr}`);
    const stdoutFile = join(dir, `haproxy-${tag}.log`);
    const stderrFile = join(dir, `haproxy-${tag}.err`);
    // -db: stay in the foreground (no daemon, no master process): one PID to measure.
    const proc = startProcess('haproxy', 'haproxy', ['-db', '-f', configFile], { stdoutFile, stderrFile });
    await waitForPort(proc, port);
    return {
      port,
      servername: certs.front.servername,
      pid: proc.pid,
      proc,
      logFile: stdoutFile,
      stderr: () => readText(stderrFile),
      stop: () => stopProcess(proc),
    };
  },
};
