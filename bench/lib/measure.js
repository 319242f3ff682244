// One measurement: an unrecorded warm-up, then the load with the proxy's process-tree
// CPU time read before and after and its RSS sampled every 200 ms. Also the CPU
// that processes outside the bench used meanwhile (machine busy time minus the
// runner, the proxy and the web servers): a noisy neighbour shows up there.
import { machineBusySeconds, sampleRss, treeCpuSeconds } from './proc-stats.js';

/**
 * Runs `run(target, options)` twice (warm-up, then measured) and returns the load
 * result with `cpuSec`, `cpuSecPer10k`, `peakRssMb` and the RSS samples; the last
 * three are null when there is no proxy process (`pid` null).
 */
export async function measureLoad(run, target, { pid, warmupSec, serverPids = [], ...options }) {
  if (warmupSec > 0) await run(target, { ...options, durationSec: warmupSec });
  const ours = () => {
    const self = process.cpuUsage();
    return serverPids.reduce((sum, p) => sum + treeCpuSeconds(p), 0) + (self.user + self.system) / 1e6;
  };
  const busyBefore = machineBusySeconds();
  const oursBefore = ours();
  const cpuBefore = pid ? treeCpuSeconds(pid) : null;
  const sampler = pid ? sampleRss(pid) : null;
  const load = await run(target, options);
  const rss = sampler?.stop() ?? null;
  const cpuSec = pid ? treeCpuSeconds(pid) - cpuBefore : null;
  const otherSec = machineBusySeconds() - busyBefore - (ours() - oursBefore) - (cpuSec ?? 0);
  return {
    ...load,
    otherCpuPct: Math.max(0, (100 * otherSec) / load.durationSec),
    cpuSec,
    cpuSecPer10k: cpuSec === null || load.requests === 0 ? null : (cpuSec * 10_000) / load.requests,
    cpuPct: cpuSec === null ? null : (100 * cpuSec) / load.durationSec,
    peakRssMb: rss?.peakMb ?? null,
    rssSamples: rss?.samples ?? null,
  };
}
