// One bounded autocannon run against 127.0.0.1 over HTTPS, with its latencies
// re-recorded at sub-millisecond resolution from autocannon's 'response' event.
import autocannon from 'autocannon';
import { LatencyRecorder } from './latency.js';
import { registerStopper } from './processes.js';

/**
 * Runs autocannon for `durationSec` and resolves with the counts and latencies.
 * A watchdog stops it if it overruns by 30 s. autocannon does not verify the
 * server certificate (it hard-codes rejectUnauthorized: false); the runner's probe does.
 */
export function runAutocannon({ port, servername, path = '/', method = 'GET', headers = {}, body, connections, durationSec }) {
  return new Promise((resolve, reject) => {
    const latencies = new LatencyRecorder();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const instance = autocannon(
      {
        url: `https://127.0.0.1:${port}${path}`,
        servername,
        method,
        headers,
        body,
        connections,
        duration: durationSec,
        timeout: 10,
      },
      (err, result) => {
        clearTimeout(watchdog);
        unregister();
        if (err) return reject(err);
        const cpu = process.cpuUsage(cpuBefore);
        const elapsedSec = (performance.now() - started) / 1000;
        resolve({
          requests: result.requests.total,
          durationSec: result.duration,
          reqPerSec: result.requests.total / result.duration,
          ok: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          resets: result.resets,
          statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count])),
          bytes: result.throughput.total,
          latency: latencies.summary(),
          autocannonLatency: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
          generatorCpuPct: (100 * (cpu.user + cpu.system)) / 1e6 / elapsedSec,
        });
      },
    );
    instance.on('response', (_client, status, _bytes, responseTimeMs) => {
      // Like autocannon's own histogram: only 2xx responses count for latency.
      if (status >= 200 && status < 300) latencies.add(responseTimeMs);
    });
    const watchdog = setTimeout(() => instance.stop(), (durationSec + 30) * 1000);
    const unregister = registerStopper(() => instance.stop());
  });
}
