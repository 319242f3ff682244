// Raw HTTP/1.1 over node:tls for what autocannon cannot do: a verified one-off
// request (the probe), a new TLS connection per request (handshake-bound load),
// and many idle keep-alive connections held open (memory).
import tls from 'node:tls';
import { LatencyRecorder } from './latency.js';
import { registerStopper } from './processes.js';

const HEADER_LIMIT = 64 * 1024;

/**
 * One request on a new verified TLS connection. Resolves with the status, the
 * headers (lower-case names, arrays for repeats), the body length and the TLS
 * protocol and cipher; `keepOpen` leaves the socket open and returns it.
 */
export function requestOnce({ port, servername, ca, path = '/', headers = {}, keepOpen = false, timeoutMs = 10_000 }) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca });
    const lines = [`GET ${path} HTTP/1.1`, `Host: ${servername}`, `Connection: ${keepOpen ? 'keep-alive' : 'close'}`];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    const parser = responseParser();
    const timer = setTimeout(() => fail(new Error(`no complete response in ${timeoutMs} ms`)), timeoutMs);
    let settled = false;
    function fail(err) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    }
    function succeed() {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const cipher = socket.getCipher();
      const result = { ...parser.result(), protocol: socket.getProtocol(), cipher: cipher?.standardName ?? cipher?.name };
      if (keepOpen) {
        socket.removeAllListeners('data');
        socket.on('error', () => {});
        resolve({ ...result, socket });
      } else {
        socket.destroy();
        resolve(result);
      }
    }
    socket.once('secureConnect', () => socket.write(lines.join('\r\n') + '\r\n\r\n'));
    socket.on('data', (chunk) => {
      if (!parser.push(chunk)) fail(new Error('malformed or oversized response head'));
      else if (parser.complete()) succeed();
    });
    socket.on('end', () =>
      parser.complete() || parser.closeDelimited() ? succeed() : fail(new Error('connection closed before a complete response')),
    );
    socket.on('error', fail);
  });
}

/** An incremental HTTP/1.1 response parser: status, headers, body length. */
function responseParser() {
  let head = Buffer.alloc(0);
  let headDone = false;
  let status = 0;
  let headers = {};
  let contentLength = null;
  let bodyBytes = 0;
  return {
    push(chunk) {
      if (headDone) {
        bodyBytes += chunk.length;
        return true;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return head.length <= HEADER_LIMIT;
      headDone = true;
      const lines = head.subarray(0, end).toString('latin1').split('\r\n');
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
      if (!match) return false;
      status = Number(match[1]);
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        headers[name] = name in headers ? [].concat(headers[name], value) : value;
      }
      if (typeof headers['content-length'] === 'string') contentLength = Number(headers['content-length']);
      bodyBytes = head.length - end - 4;
      head = null;
      return true;
    },
    complete: () => headDone && contentLength !== null && bodyBytes >= contentLength,
    closeDelimited: () => headDone && contentLength === null,
    result: () => ({ status, headers, bodyBytes }),
  };
}

/**
 * `concurrency` loops, each opening a new TLS connection (full handshake: no session
 * reuse), sending one `Connection: close` GET and reading the whole response, until
 * `durationSec` passes or `maxRequests` have started. Latency is from the TCP connect
 * to the last response byte.
 */
export function newConnectionLoad({
  port,
  servername,
  ca,
  path = '/',
  concurrency,
  durationSec,
  maxRequests = 10_000_000,
  connTimeoutMs = 10_000,
}) {
  return new Promise((resolve) => {
    const latencies = new LatencyRecorder();
    const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${servername}\r\nConnection: close\r\n\r\n`);
    const counts = { started: 0, ok: 0, non2xx: 0, errors: 0, timeouts: 0 };
    const errorKinds = {};
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    const deadline = started + durationSec * 1000;
    let active = 0;
    let stopped = false;
    const unregister = registerStopper(() => {
      stopped = true;
    });

    function loop() {
      if (stopped || performance.now() >= deadline || counts.started >= maxRequests) {
        active -= 1;
        if (active === 0) finish();
        return;
      }
      counts.started += 1;
      const t0 = performance.now();
      const parser = responseParser();
      let outcome = null;
      const socket = tls.connect({ host: '127.0.0.1', port, servername, ca });
      const timer = setTimeout(() => {
        outcome ??= 'timeout';
        socket.destroy();
      }, connTimeoutMs);
      socket.once('secureConnect', () => socket.write(request));
      socket.on('data', (chunk) => {
        if (outcome) return;
        if (!parser.push(chunk)) {
          outcome = 'malformed';
          socket.destroy();
        } else if (parser.complete()) {
          outcome = 'done';
          latencies.add(performance.now() - t0);
        }
      });
      socket.on('end', () => {
        if (!outcome && parser.closeDelimited()) {
          outcome = 'done';
          latencies.add(performance.now() - t0);
        }
      });
      socket.on('error', (err) => {
        outcome ??= err.code ?? err.message;
      });
      socket.once('close', () => {
        clearTimeout(timer);
        if (outcome === 'done') {
          const { status } = parser.result();
          if (status >= 200 && status < 300) counts.ok += 1;
          else counts.non2xx += 1;
        } else if (outcome === 'timeout') {
          counts.timeouts += 1;
        } else {
          counts.errors += 1;
          const kind = outcome ?? 'closed early';
          errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
        }
        setImmediate(loop);
      });
    }

    function finish() {
      unregister();
      const cpu = process.cpuUsage(cpuBefore);
      const durationSecReal = (performance.now() - started) / 1000;
      const requests = counts.ok + counts.non2xx;
      resolve({
        requests,
        durationSec: durationSecReal,
        reqPerSec: requests / durationSecReal,
        ok: counts.ok,
        non2xx: counts.non2xx,
        errors: counts.errors,
        timeouts: counts.timeouts,
        errorKinds,
        latency: latencies.summary(),
        generatorCpuPct: (100 * (cpu.user + cpu.system)) / 1e6 / durationSecReal,
      });
    }

    for (let i = 0; i < concurrency; i += 1) {
      active += 1;
      loop();
    }
  });
}

/**
 * Opens `count` verified TLS connections, `parallel` at a time, each with one
 * keep-alive GET answered, and leaves them open. Returns the sockets and the failures.
 */
export async function openIdleConnections({ port, servername, ca, path = '/', count, parallel = 50 }) {
  const sockets = [];
  const failures = {};
  let next = 0;
  let stopped = false;
  const unregister = registerStopper(() => {
    stopped = true;
  });
  async function worker() {
    while (!stopped && next < count) {
      next += 1;
      try {
        const { socket, status } = await requestOnce({ port, servername, ca, path, keepOpen: true });
        sockets.push(socket);
        if (status !== 200) failures[`status ${status}`] = (failures[`status ${status}`] ?? 0) + 1;
      } catch (err) {
        failures[err.code ?? err.message] = (failures[err.code ?? err.message] ?? 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  unregister();
  return {
    sockets,
    failures,
    open: () => sockets.filter((s) => !s.destroyed).length,
    close: () => {
      for (const s of sockets) s.destroy();
    },
  };
}
