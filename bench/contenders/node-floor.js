// The floor of the stack: bench/contenders/node-floor-server.js, the least a Node proxy
// does per request on node:tls and node:http2 (Content-Length framing, pooled verified
// upstream TLS, round-robin, X-Forwarded-For; no cookie, checks, log or validation).
// Beside Doorman and HAProxy in the same run it shows which part of a gap is Node's own.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFirstJsonLine, startProcess, stopProcess } from '../lib/processes.js';

const SERVER = fileURLToPath(new URL('./node-floor-server.js', import.meta.url));

export default {
  name: 'node-floor',
  describe: () =>
    'the least a Node proxy does on node:tls + node:http2: Content-Length framing, pooled upstream TLS, round-robin, nothing else',
  balances: ['roundrobin'],
  available: () => Promise.resolve({ ok: true }),
  async start({ certs, servers, dir, tag }) {
    const config = {
      cert: certs.front.cert,
      key: certs.front.key,
      ca: certs.caFile,
      servers: servers.map((s) => ({ name: s.name, port: s.port, servername: certs.servers[s.name].servername })),
    };
    const stderrFile = join(dir, `node-floor-${tag}.err`);
    const proc = startProcess('node-floor', process.execPath, [SERVER, JSON.stringify(config)], { stdoutFile: 'pipe', stderrFile });
    const { port } = await readFirstJsonLine(proc);
    return { port, servername: certs.front.servername, pid: proc.pid, proc, stop: () => stopProcess(proc) };
  },
};
