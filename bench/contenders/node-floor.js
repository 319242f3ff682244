// The floor of the stack: bench/contenders/node-floor-server.js, the least a Node proxy
// does per request on node:tls and node:http2 (Content-Length framing, pooled verified
// upstream TLS, round-robin, X-Forwarded-For; no cookie, checks, log or validation).
// Beside Doorman and HAProxy in the same run it shows which part of a gap is Node's own.
import { fileURLToPath } from 'node:url';
import { startNodeProxy } from './node-proxy-process.js';

const SERVER = fileURLToPath(new URL('./node-floor-server.js', import.meta.url));

export default {
  name: 'node-floor',
  describe: () =>
    'the least a Node proxy does on node:tls + node:http2: Content-Length framing, pooled upstream TLS, round-robin, nothing else',
  balances: ['roundrobin'],
  available: () => Promise.resolve({ ok: true }),
  start: (options) => startNodeProxy('node-floor', SERVER, options),
};
