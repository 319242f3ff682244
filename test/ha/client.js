#!/usr/bin/env node
// The HA lab's client, run inside the client namespace: USERS simulated users, each
// sending one request every INTERVAL ms over a new TLS connection and keeping the
// cookie it was given, until SIGTERM or a bound (request count, duration) is reached.
//   node test/ha/client.js --url https://198.18.0.100/ --ca F --servername localhost
//        [--users 4] [--interval-ms 50] [--timeout-ms 3000] [--max-requests 4000] [--max-ms 45000]
// One JSON line per request on stdout:
//   {"user":0,"start":EPOCH_MS,"ms":12,"status":200,"server":"web1","via":"198.18.0.11","setCookie":false}
//   {"user":0,"start":EPOCH_MS,"ms":1,"error":"ECONNREFUSED"}
// and a last line {"done":true,"requests":N} once every user has stopped.
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    ca: { type: 'string' },
    servername: { type: 'string' },
    users: { type: 'string', default: '4' },
    'interval-ms': { type: 'string', default: '50' },
    'timeout-ms': { type: 'string', default: '3000' },
    'max-requests': { type: 'string', default: '4000' },
    'max-ms': { type: 'string', default: '45000' },
  },
  strict: true,
});
const url = new URL(values.url);
const ca = readFileSync(values.ca);
const intervalMs = Number(values['interval-ms']);
const timeoutMs = Number(values['timeout-ms']);
const maxRequests = Number(values['max-requests']);
const stopAt = Date.now() + Number(values['max-ms']);

let sent = 0;
let stopping = false;
process.on('SIGTERM', () => (stopping = true));
const running = () => !stopping && sent < maxRequests && Date.now() < stopAt;

/** One request on its own connection: resolves with its record, never rejects. */
function send(user, cookie) {
  const start = Date.now();
  return new Promise((resolve) => {
    const req = https.request({
      host: url.hostname,
      port: url.port || 443,
      path: url.pathname,
      ca,
      servername: values.servername,
      agent: false,
      headers: cookie ? { cookie } : {},
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), timeoutMs);
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => {
        clearTimeout(timer);
        const setCookie = res.headers['set-cookie']?.[0]?.split(';')[0];
        resolve({
          user,
          start,
          ms: Date.now() - start,
          status: res.statusCode,
          server: res.headers['x-server'],
          via: res.headers['x-peer'],
          setCookie: setCookie !== undefined,
          cookie: setCookie,
        });
      });
      res.on('error', (err) => resolve({ user, start, ms: Date.now() - start, error: err.code ?? err.message }));
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      resolve({ user, start, ms: Date.now() - start, error: err.code ?? err.message });
    });
    req.end();
  });
}

async function user(id) {
  let cookie;
  while (running()) {
    sent += 1;
    const record = await send(id, cookie);
    if (record.cookie) cookie = record.cookie;
    delete record.cookie; // the value stays out of the output, as it stays out of logs
    process.stdout.write(`${JSON.stringify(record)}\n`);
    // A fixed pace per user, so the failures counted during a switch measure its length.
    const pause = record.start + intervalMs - Date.now();
    if (pause > 0 && running()) await new Promise((resolve) => setTimeout(resolve, pause));
  }
}

await Promise.all(Array.from({ length: Number(values.users) }, (_, id) => user(id)));
process.stdout.write(`${JSON.stringify({ done: true, requests: sent })}\n`);
