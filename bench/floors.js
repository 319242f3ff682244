#!/usr/bin/env node
// `npm run bench:floors`: what Node itself costs, with no proxy logic at all, for the two
// paths where Doorman is furthest from HAProxy: a node:http2 TLS server answering 100
// bytes on every stream (h2load, 10 connections × 10 streams, as the h2 scenario), and a
// node:tls server doing one RSA-2048 handshake per connection and answering one byte (as
// the newconn scenario). CPU-s per 10k requests of the server process, on 127.0.0.1.
// Compare with the bench's Doorman and HAProxy rows from the same machine and hour.
import { fork, spawnSync } from 'node:child_process';
import http2 from 'node:http2';
import tls from 'node:tls';
import { issueCertificate } from '../dist/dev/pki.js';

const ROUNDS = 3;
const H2_SECONDS = 6;
const HANDSHAKES = 1500;

/** The server side, in its own process so its CPU is its own. */
function serve(kind, cert, key) {
  const body = Buffer.alloc(100, 'x');
  const server =
    kind === 'h2'
      ? http2.createSecureServer({ cert, key }).on('stream', (stream) => {
          stream.respond({ ':status': 200, 'content-type': 'text/plain', 'content-length': '100' });
          stream.end(body);
        })
      : tls.createServer({ cert, key, ALPNProtocols: ['http/1.1'] }, (socket) => {
          socket.on('error', () => {});
          socket.end('x');
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

function h2load(port, seconds) {
  const run = spawnSync('h2load', ['-c10', '-m10', `-D${seconds}`, `https://localhost:${port}/`], {
    encoding: 'utf8',
    timeout: (seconds + 30) * 1000,
  });
  const done = /(\d+) succeeded/.exec(run.stdout ?? '');
  if (!done) throw new Error(`h2load failed: ${run.error?.message ?? run.stderr}`);
  return Number(done[1]);
}

async function handshakes(port, count) {
  for (let i = 0; i < count; i += 10) {
    await Promise.all(
      Array.from(
        { length: 10 },
        () =>
          new Promise((resolve) => {
            const socket = tls.connect({
              port,
              host: '127.0.0.1',
              servername: 'localhost',
              rejectUnauthorized: false,
              ALPNProtocols: ['http/1.1'],
            });
            socket.on('data', () => {});
            socket.on('close', resolve);
            socket.on('error', resolve);
          }),
      ),
    );
  }
  return count;
}

async function measure(kind, leaf) {
  const child = fork(new URL(import.meta.url).pathname, ['--serve', kind], {
    env: { ...process.env, FLOOR_CERT: leaf.cert, FLOOR_KEY: leaf.key },
  });
  try {
    const { port } = await ask(child);
    const load = kind === 'h2' ? (seconds) => h2load(port, seconds) : (n) => handshakes(port, n);
    await load(kind === 'h2' ? 1 : 100); // warm-up
    const before = (await ask(child, 'cpu')).cpuSec;
    const requests = await load(kind === 'h2' ? H2_SECONDS : HANDSHAKES);
    const after = (await ask(child, 'cpu')).cpuSec;
    return ((after - before) / requests) * 1e4;
  } finally {
    child.kill();
  }
}

if (process.argv[2] === '--serve') {
  serve(process.argv[3], process.env.FLOOR_CERT, process.env.FLOOR_KEY);
} else {
  const leaf = issueCertificate({ commonName: 'localhost', altNames: ['localhost', '127.0.0.1'] });
  const hasH2load = spawnSync('h2load', ['--version']).status === 0;
  for (let round = 1; round <= ROUNDS; round += 1) {
    const h2 = hasH2load ? `${(await measure('h2', leaf)).toFixed(2)} CPU-s/10k` : 'skipped (no h2load)';
    const handshake = (await measure('tls', leaf)).toFixed(2);
    process.stdout.write(`round ${round}: node:http2 answering itself ${h2}; node:tls, one handshake per request ${handshake} CPU-s/10k\n`);
  }
}
