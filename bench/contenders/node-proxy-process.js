// Starting a Node proxy contender (http-proxy, node-floor): its server script in its own
// process, given the certificates and servers as one JSON argument, announcing its port.
import { join } from 'node:path';
import { readFirstJsonLine, startProcess, stopProcess } from '../lib/processes.js';

/** Starts `script` as contender `name` for one (scenario, round); resolves with the bench's handle. */
export async function startNodeProxy(name, script, { certs, servers, dir, tag }) {
  const config = {
    cert: certs.front.cert,
    key: certs.front.key,
    ca: certs.caFile,
    servers: servers.map((s) => ({ name: s.name, port: s.port, servername: certs.servers[s.name].servername })),
  };
  const stderrFile = join(dir, `${name}-${tag}.err`);
  const proc = startProcess(name, process.execPath, [script, JSON.stringify(config)], { stdoutFile: 'pipe', stderrFile });
  const { port } = await readFirstJsonLine(proc);
  return { port, servername: certs.front.servername, pid: proc.pid, proc, stop: () => stopProcess(proc) };
}
