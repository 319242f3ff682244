#!/usr/bin/env node
// `npm run bench:floors`: what Node itself costs, with no proxy logic at all, on the two
// paths where Doorman is furthest from HAProxy, driven by the bench's own load helpers:
// a node:http2 TLS server answering 100 bytes on every stream (h2load, 10 connections ×
// 10 streams, as the `h2` scenario) and a node:tls server answering one HTTP/1.1 request
// per connection, a full RSA-2048 handshake each (as the `newconn` scenario). CPU-s per
// 10k requests of the server process, on 127.0.0.1; compare with the bench's Doorman and
// HAProxy rows from the same machine and hour. Needs `npm run build` (certificates).
import { fork } from 'node:child_process';
import http2 from 'node:http2';
import tls from 'node:tls';
import { createAuthority, issueCertificate } from '../dist/dev/pki.js';
import { h2loadVersion, runH2load } from './lib/h2load.js';
import { newConnectionLoad } from './lib/tls-client.js';

const ROUNDS = 3;
const SECONDS = 6;
const BODY = Buffer.alloc(100, 'x');
const HTTP1_ANSWER = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n'), BODY]);

/** The server side, in its own process so that its CPU is its own. */
function serve(kind, cert, key) {
  const server =
    kind === 'h2'
      ? http2.createSecureServer({ cert, key }).on('stream', (stream) => {
          stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': '100' });
          stream.end(BODY);
        })
      : tls.createServer({ cert, key }, (socket) => {
          socket.on('error', () => {});
          socket.once('data', () => socket.end(HTTP1_ANSWER));
        });
  server.listen(0, '127.0.0.1', () => process.send?.({ port: server.address().port }));
  process.on('message', () => {
    const usage = process.cpuUsage();
    process.send?.({ cpuSec: (usage.user + usage.system) / 1e6 });
  });
}

function ask(child, message) {
  return new Promise((resolve) => {
    child.once('message', resolve);
    if (message) child.send(message);
  });
}

/** CPU-s per 10k requests of a `kind` server under its scenario's load. */
async function measure(kind, certs) {
  const child = fork(new URL(import.meta.url).pathname, ['--serve', kind], {
    env: { ...process.env, FLOOR_CERT: certs.leaf.cert, FLOOR_KEY: certs.leaf.key },
  });
  try {
    const { port } = await ask(child);
    const target = { port, servername: 'localhost', path: '/', ca: certs.ca };
    const load = (durationSec) =>
      kind === 'h2'
        ? runH2load({ ...target, connections: 10, streams: 10, durationSec })
        : newConnectionLoad({ ...target, concurrency: 50, durationSec });
    await load(1); // warm-up
    const before = (await ask(child, 'cpu')).cpuSec;
    const { requests, errors } = await load(SECONDS);
    const after = (await ask(child, 'cpu')).cpuSec;
    if (errors > 0) throw new Error(`${kind}: ${errors} errors`);
    return ((after - before) / requests) * 1e4;
  } finally {
    child.kill();
  }
}

if (process.argv[2] === '--serve') {
  serve(process.argv[3], process.env.FLOOR_CERT, process.env.FLOOR_KEY);
} else {
  const authority = createAuthority('Doorman floors CA');
  const leaf = issueCertificate({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'], issuer: authority });
  const certs = { ca: authority.cert, leaf };
  const hasH2load = h2loadVersion() !== null;
  for (let round = 1; round <= ROUNDS; round += 1) {
    const h2 = hasH2load ? `${(await measure('h2', certs)).toFixed(2)} CPU-s/10k` : 'skipped (no h2load)';
    const handshake = (await measure('tls', certs)).toFixed(2);
    process.stdout.write(
      `round ${round}: node:http2 answering itself ${h2}; node:tls, a new connection per request ${handshake} CPU-s/10k\n`,
    );
  }
}
