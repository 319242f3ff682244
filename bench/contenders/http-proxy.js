// The Node peer: a minimal http-proxy 1.18.1 reverse proxy (bench/contenders/
// http-proxy-server.js) terminating TLS and forwarding round-robin over a
// keep-alive https.Agent per server that verifies against the same CA.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFirstJsonLine, startProcess, stopProcess } from '../lib/processes.js';

const SERVER = fileURLToPath(new URL('./http-proxy-server.js', import.meta.url));

export default {
  name: 'http-proxy',
  describe: () => 'http-proxy 1.18.1, keep-alive https.Agent per server, round-robin, no cookie, no checks, no log',
  balances: ['roundrobin'],
  available: () => Promise.resolve({ ok: true }),
  async start({ certs, servers, dir, tag }) {
    const config = {
      cert: certs.front.cert,
      key: certs.front.key,
      ca: certs.caFile,
      servers: servers.map((s) => ({ name: s.name, port: s.port, servername: certs.servers[s.name].servername })),
    };
    const stderrFile = join(dir, `http-proxy-${tag}.err`);
    const proc = startProcess('http-proxy', process.execPath, [SERVER, JSON.stringify(config)], { stdoutFile: 'pipe', stderrFile });
    const { port } = await readFirstJsonLine(proc);
    return { port, servername: certs.front.servername, pid: proc.pid, proc, stop: () => stopProcess(proc) };
  },
};
