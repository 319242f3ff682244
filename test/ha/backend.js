#!/usr/bin/env node
// A web server for the HA lab, run inside the backends namespace:
//   node test/ha/backend.js --name web1 --bind 198.18.0.21:8443 --cert F --key F
// Prints one JSON line {"listening": "host:port"} once bound. Every answer names the
// server (x-server) and the balancer the request came through (x-peer: the TCP peer,
// lb1's or lb2's own address), so the test can tell which node served it.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    name: { type: 'string' },
    bind: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
  strict: true,
});
const name = values.name ?? 'web';
const [host, port] = (values.bind ?? '127.0.0.1:0').split(/:(?=\d+$)/);

const server = https.createServer({ cert: readFileSync(values.cert), key: readFileSync(values.key) }, (req, res) => {
  req.resume();
  req.on('end', () => {
    const body = req.url === '/health' ? 'ok\n' : `${name} via ${req.socket.remoteAddress}\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'x-server': name, 'x-peer': req.socket.remoteAddress ?? '' });
    res.end(body);
  });
});
server.listen(Number(port), host, () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ listening: `${address.address}:${address.port}` })}\n`);
});
// The test stops it with SIGTERM; exit at once, open keep-alive connections or not.
process.on('SIGTERM', () => process.exit(0));
