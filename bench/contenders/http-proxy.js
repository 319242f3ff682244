// The Node peer: a minimal http-proxy 1.18.1 reverse proxy (bench/contenders/
// http-proxy-server.js) terminating TLS and forwarding round-robin over a
// keep-alive https.Agent per server that verifies against the same CA.
import { fileURLToPath } from 'node:url';
import { startNodeProxy } from './node-proxy-process.js';

const SERVER = fileURLToPath(new URL('./http-proxy-server.js', import.meta.url));

export default {
  name: 'http-proxy',
  describe: () => 'http-proxy 1.18.1, keep-alive https.Agent per server, round-robin, no cookie, no checks, no log',
  balances: ['roundrobin'],
  available: () => Promise.resolve({ ok: true }),
  start: (options) => startNodeProxy('http-proxy', SERVER, options),
};
