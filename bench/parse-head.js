#!/usr/bin/env node
// Micro-benchmark of the h1 request head parser: a typical ~400-byte browser request
// head parsed N times, in ns per head, beside llhttp (Node's parser, through its
// internal binding, which also builds every header string) for reference. Not run by
// `npm test`; needs `npm run build` first. Usage: node bench/parse-head.js [N]
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/h1/request-head.js', import.meta.url));
if (!existsSync(dist)) {
  console.error('run npm run build first');
  process.exit(1);
}
const { parseRequestHead } = await import(dist);

const HEAD = Buffer.from(
  [
    'GET /products/shoes?color=blue&size=42 HTTP/1.1',
    'Host: shop.example.com',
    'User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0',
    'Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'Accept-Language: en-US,en;q=0.5',
    'Accept-Encoding: gzip, deflate, br, zstd',
    'Connection: keep-alive',
    'Cookie: WEBSERVERID=s1; session=3f9a2c',
    'Upgrade-Insecure-Requests: 1',
    '',
    '',
  ].join('\r\n'),
  'latin1',
);
const N = Number(process.argv[2] ?? 1_000_000);

/** Runs `fn` N times after a warm-up, and returns ns per call (best of 5 rounds). */
function measure(fn) {
  for (let i = 0; i < 50_000; i++) fn();
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / N);
  }
  return best;
}

let sink = 0;
const results = [];
results.push([
  'doorman parseRequestHead',
  measure(() => {
    const result = parseRequestHead(HEAD, 0);
    sink += result.head.end;
  }),
]);
results.push([
  'doorman + host + cookie strings',
  measure(() => {
    const { head } = parseRequestHead(HEAD, 0);
    sink += head.host.length + head.cookie.length;
  }),
]);

// llhttp through Node's internal binding: deprecated (DEP0111) and absent in some
// builds, so only when it loads; one parser fed the same keep-alive head again and again.
try {
  const { HTTPParser } = process.binding('http_parser');
  const parser = new HTTPParser();
  parser.initialize(HTTPParser.REQUEST, {});
  parser[HTTPParser.kOnHeadersComplete] = (major, minor, headers) => {
    sink += headers.length;
  };
  parser[HTTPParser.kOnMessageComplete] = () => {};
  parser[HTTPParser.kOnBody] = () => {};
  results.push(['llhttp (node binding, all header strings)', measure(() => parser.execute(HEAD))]);
} catch (err) {
  results.push([`llhttp skipped: ${err.message}`, NaN]);
}

console.log(`${HEAD.length}-byte head, ${N} iterations, best of 5, node ${process.version}`);
for (const [name, ns] of results) console.log(`${name.padEnd(44)} ${Number.isNaN(ns) ? '-' : ns.toFixed(0).padStart(6) + ' ns/head'}`);
if (sink === 0) console.log('');
