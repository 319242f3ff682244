#!/usr/bin/env node
// The http-proxy peer process: `node http-proxy-server.js CONFIG_JSON`. Prints
// {"port":N} once listening on 127.0.0.1:0. Round-robin over the servers, one
// keep-alive https.Agent each (CA-verified, SNI = the server's name), 502 on errors.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import httpProxy from 'http-proxy';
import { serveAndAnnounce } from '../lib/child-server.js';

const config = JSON.parse(process.argv[2]);
const ca = readFileSync(config.ca);
const targets = config.servers.map((s) => ({
  target: { protocol: 'https:', host: '127.0.0.1', port: s.port },
  agent: new https.Agent({ keepAlive: true, maxSockets: 1024, ca, servername: s.servername }),
}));

const proxy = httpProxy.createProxyServer({ secure: true, xfwd: true });
proxy.on('error', (_err, _req, res) => {
  if (res && !res.headersSent && typeof res.writeHead === 'function') {
    res.writeHead(502, { 'content-type': 'text/plain' });
    res.end('bad gateway\n');
  } else {
    res?.destroy?.();
  }
});

let next = 0;
const server = https.createServer({ cert: readFileSync(config.cert), key: readFileSync(config.key) }, (req, res) => {
  const t = targets[next];
  next = (next + 1) % targets.length;
  proxy.web(req, res, { target: t.target, agent: t.agent, ca });
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 61_000;
serveAndAnnounce(server);
