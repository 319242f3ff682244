// One bounded h2load run (Debian package nghttp2-client) over HTTPS with ALPN h2: C
// connections with M concurrent streams each, for a fixed duration. Latencies come
// from h2load's per-request log (microseconds), so p50/p99 mean the same as elsewhere.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LatencyRecorder } from './latency.js';
import { registerStopper } from './processes.js';
import { treeCpuSeconds } from './proc-stats.js';

/** The h2load version line, or null when it is not installed. */
export function h2loadVersion() {
  const run = spawnSync('h2load', ['--version'], { encoding: 'utf8', timeout: 5000 });
  if (run.error || run.status !== 0) return null;
  return run.stdout.split('\n')[0].trim();
}

/** Runs h2load and resolves with the same shape as runAutocannon. */
export function runH2load({ port, servername, path, connections, streams, durationSec }) {
  const dir = mkdtempSync(join(tmpdir(), 'doorman-h2load-'));
  const logFile = join(dir, 'requests.log');
  const args = [
    '-c',
    String(connections),
    '-m',
    String(streams),
    '-D',
    String(durationSec),
    '--log-file',
    logFile,
    `https://${servername}:${port}${path}`,
  ];
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('h2load', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let cpuSec = 0;
    // h2load's CPU, sampled while it runs (it is gone from /proc once it exits).
    const sampler = setInterval(() => (cpuSec = treeCpuSeconds(child.pid) ?? cpuSec), 250);
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    const watchdog = setTimeout(() => child.kill('SIGKILL'), (durationSec + 30) * 1000);
    const unregister = registerStopper(() => child.kill('SIGKILL'));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(sampler);
      clearTimeout(watchdog);
      unregister();
      try {
        if (code !== 0) throw new Error(`h2load exited with ${code}: ${out.slice(-500)}`);
        const counts = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
          out,
        );
        const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
        const traffic = /traffic: .*?\((\d+)\) total/.exec(out);
        if (!counts || !codes) throw new Error(`unexpected h2load output: ${out.slice(-500)}`);
        const latencies = new LatencyRecorder();
        for (const line of readFileSync(logFile, 'utf8').split('\n')) {
          const [, status, micros] = line.split('\t');
          if (status && Number(status) >= 200 && Number(status) < 300) latencies.add(Number(micros) / 1000);
        }
        const done = Number(counts[3]);
        const ok = Number(codes[1]);
        const elapsedSec = (performance.now() - started) / 1000;
        resolve({
          requests: done,
          durationSec,
          reqPerSec: done / durationSec,
          ok,
          non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
          errors: Number(counts[6]) + Number(counts[7]),
          timeouts: Number(counts[7]),
          resets: 0,
          statusCodes: { '2xx': ok },
          bytes: traffic ? Number(traffic[1]) : 0,
          latency: latencies.summary(),
          generatorCpuPct: (100 * cpuSec) / elapsedSec,
        });
      } catch (err) {
        reject(err);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
