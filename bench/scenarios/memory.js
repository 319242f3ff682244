// Memory, run only with `--only memory` (it takes about 110 s per contender, one
// round): RSS of the proxy's process tree over a sustained keep-alive run (flat
// within ±10 %?), then idle, then with N idle client TLS connections held open (each
// having made one keep-alive request), and after they are closed.
import { setTimeout as sleep } from 'node:timers/promises';
import { measureLoad } from '../lib/measure.js';
import { treeRssMb } from '../lib/proc-stats.js';
import { openIdleConnections } from '../lib/tls-client.js';
import keepalive from './keepalive.js';

const SETTLE_MS = 2000;

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? null : sorted[Math.floor(sorted.length / 2)];
}

/** Start and end RSS of a run: medians of the first and last tenth of the samples. */
export function rssDrift(samples) {
  const rss = samples.map(([, mb]) => mb);
  const tenth = Math.max(1, Math.floor(rss.length / 10));
  const startMb = median(rss.slice(0, tenth));
  const endMb = median(rss.slice(-tenth));
  return { startMb, endMb, minMb: Math.min(...rss), maxMb: Math.max(...rss), driftPct: (100 * (endMb - startMb)) / startMb };
}

export default {
  name: 'memory',
  title: 'RSS over a sustained keep-alive run, and with idle client TLS connections',
  quick: false,
  rounds: 1,
  path: '/?size=100',
  skip: ['direct'],
  async measure(target, { pid, warmupSec, connections, memoryDurationSec, idleConnections, idleHoldSec, serverPids }) {
    const result = await measureLoad(keepalive.run, target, { pid, warmupSec, connections, serverPids, durationSec: memoryDurationSec });
    const drift = rssDrift(result.rssSamples);
    // Idle figures twice: just after the load or the handshakes, and once the process has
    // been idle as long as a quiet balancer is (a runtime may give memory back when idle).
    await sleep(SETTLE_MS);
    const afterLoadMb = treeRssMb(pid);
    await sleep(idleHoldSec * 1000 - SETTLE_MS);
    const idleBaselineMb = treeRssMb(pid);
    const idle = await openIdleConnections({
      port: target.port,
      servername: target.servername,
      ca: target.ca,
      path: '/?size=100',
      count: idleConnections,
    });
    await sleep(SETTLE_MS);
    const idleOpenMb = treeRssMb(pid);
    await sleep(idleHoldSec * 1000 - SETTLE_MS);
    const idleHeldMb = treeRssMb(pid);
    const stillOpen = idle.open();
    idle.close();
    await sleep(SETTLE_MS);
    const idleClosedMb = treeRssMb(pid);
    return {
      ...result,
      memory: {
        sustainedSec: memoryDurationSec,
        ...drift,
        idleConnections,
        idleOpened: idle.sockets.length,
        idleStillOpen: stillOpen,
        idleFailures: idle.failures,
        idleHoldSec,
        afterLoadMb,
        idleBaselineMb,
        idleOpenMb,
        idleHeldMb,
        idleKbPerConnection: idle.sockets.length ? ((idleHeldMb - idleBaselineMb) * 1024) / idle.sockets.length : null,
        idleClosedMb,
      },
    };
  },
};
