// CPU time and resident memory of a process and all its descendants, from /proc
// (Linux only): utime+stime from /proc/PID/stat, VmRSS from /proc/PID/status.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/PID/stat times (`getconf CLK_TCK`, usually 100). */
export const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

function read(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** `pid` and every live descendant, found through /proc/PID/task/TID/children. */
export function processTree(pid) {
  const seen = new Set();
  const todo = [pid];
  while (todo.length > 0 && seen.size < 10_000) {
    const p = todo.pop();
    if (seen.has(p)) continue;
    seen.add(p);
    let tasks;
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      const children = read(`/proc/${p}/task/${tid}/children`);
      if (!children) continue;
      for (const c of children.trim().split(/\s+/)) if (c) todo.push(Number(c));
    }
  }
  return [...seen];
}

/** utime+stime of one process (all its threads) in clock ticks, or 0 when gone. */
function cpuTicks(pid) {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return 0;
  // The command name (field 2) is in parentheses and may hold spaces: split after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12]);
}

/** CPU seconds used so far by `pid` and its live descendants. */
export function treeCpuSeconds(pid) {
  let ticks = 0;
  for (const p of processTree(pid)) ticks += cpuTicks(p);
  return ticks / CLK_TCK;
}

/** VmRSS in kB of one process, or 0 when gone. */
function rssKb(pid) {
  const status = read(`/proc/${pid}/status`);
  const match = status && /^VmRSS:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) : 0;
}

/** Resident memory in MB of `pid` and its live descendants. */
export function treeRssMb(pid) {
  let kb = 0;
  for (const p of processTree(pid)) kb += rssKb(p);
  return kb / 1024;
}

/**
 * Samples the tree's RSS every `intervalMs` until stopped; `stop()` returns the peak
 * and the samples as [secondsSinceStart, MB] pairs (bounded: one per interval).
 */
export function sampleRss(pid, intervalMs = 200) {
  const started = performance.now();
  const samples = [];
  let peakMb = 0;
  const take = () => {
    const mb = treeRssMb(pid);
    if (mb > peakMb) peakMb = mb;
    if (samples.length < 100_000) samples.push([Math.round(performance.now() - started) / 1000, Math.round(mb * 10) / 10]);
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      take();
      return { peakMb, samples };
    },
  };
}

/**
 * Busy CPU seconds of the whole machine so far (all cores): user, nice, system and
 * steal from /proc/stat. irq and softirq are left out: they are mostly the kernel's
 * loopback networking for the bench itself, and no process is charged for them.
 */
export function machineBusySeconds() {
  const line = read('/proc/stat')?.split('\n')[0] ?? '';
  const [, user, nice, system, , , , , steal] = line.trim().split(/\s+/).map(Number);
  return (user + nice + system + (steal || 0)) / CLK_TCK;
}
