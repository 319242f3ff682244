#!/usr/bin/env node
// A bench web server: node:https with keep-alive, one process per server.
//   node bench/backend.js --name web1 --cert F --key F
// Prints {"port":N} on stdout once listening on 127.0.0.1:0, then nothing more.
// GET/POST /?size=N&delay=MS answers N bytes (default 100) after MS milliseconds
// (default 0), having read the whole request body; /health answers 200.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { parseArgs } from 'node:util';
import { serveAndAnnounce } from './lib/child-server.js';

const { values } = parseArgs({
  options: { name: { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } },
  strict: true,
});
const name = values.name ?? 'web';
const MAX_SIZE = 16 * 1024 * 1024;
const MAX_DELAY_MS = 60_000;

// Parsed answers by URL: the bench uses a handful of URLs, so this stays tiny.
const answers = new Map();

function answerFor(url) {
  let answer = answers.get(url);
  if (answer) return answer;
  const query = new URL(url, 'https://x').searchParams;
  const size = Math.min(MAX_SIZE, Math.max(0, Number(query.get('size') ?? 100) || 0));
  const delayMs = Math.min(MAX_DELAY_MS, Math.max(0, Number(query.get('delay') ?? 0) || 0));
  const body = Buffer.alloc(size, 'x');
  body.write(`${name} `.slice(0, size));
  answer = { body, delayMs, length: String(size) };
  if (answers.size < 100) answers.set(url, answer);
  return answer;
}

const health = Buffer.from('ok\n');

const server = https.createServer(
  {
    cert: readFileSync(values.cert),
    key: readFileSync(values.key),
    keepAliveTimeout: 120_000,
    headersTimeout: 121_000,
    requestTimeout: 0,
  },
  (req, res) => {
    if (req.url === '/health') {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(health.length) });
      res.end(health);
      return;
    }
    const answer = answerFor(req.url ?? '/');
    const respond = () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': answer.length, 'x-server': name });
      res.end(answer.body);
    };
    // Read the request body to its end before answering, as a real application would.
    req.on('data', () => {});
    req.on('end', () => {
      if (answer.delayMs > 0) setTimeout(respond, answer.delayMs);
      else respond();
    });
  },
);
server.keepAliveTimeout = 120_000;
serveAndAnnounce(server);
