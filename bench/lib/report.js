// Turns runs into Markdown tables: one row per contender (medians over rounds;
// errors and non-2xx summed; peak RSS the maximum), then the ratios the targets in
// issue 5 are written in (Doorman/HAProxy, Doorman/direct).

function median(values) {
  const v = values.filter((x) => x !== null && x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function max(values) {
  const v = values.filter((x) => x !== null && x !== undefined && Number.isFinite(x));
  return v.length === 0 ? null : Math.max(...v);
}

/** One row per variant from its runs (failed runs count as errors, not as figures). */
export function summarize(variant, runs) {
  const ok = runs.filter((r) => r.result);
  const rps = ok.map((r) => r.result.reqPerSec);
  const mean = rps.reduce((a, b) => a + b, 0) / (rps.length || 1);
  return {
    key: variant.key,
    label: variant.label,
    rounds: runs.length,
    failedRuns: runs.length - ok.length,
    reqPerSec: median(rps),
    spreadPct: rps.length > 1 ? (100 * (Math.max(...rps) - Math.min(...rps))) / mean : null,
    p50: median(ok.map((r) => r.result.latency.p50)),
    p99: median(ok.map((r) => r.result.latency.p99)),
    errors: ok.reduce((n, r) => n + r.result.errors + r.result.timeouts, 0),
    non2xx: ok.reduce((n, r) => n + r.result.non2xx, 0),
    cpuSecPer10k: median(ok.map((r) => r.result.cpuSecPer10k)),
    cpuPct: median(ok.map((r) => r.result.cpuPct)),
    peakRssMb: max(ok.map((r) => r.result.peakRssMb)),
    generatorCpuPct: median(ok.map((r) => r.result.generatorCpuPct)),
    otherCpuPct: max(ok.map((r) => r.result.otherCpuPct)),
    memory: ok.length ? (ok[ok.length - 1].result.memory ?? null) : null,
  };
}

const fmt = {
  int: (x) => (x === null ? '-' : Math.round(x).toLocaleString('en-US')),
  ms: (x) => (x === null ? '-' : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : Math.round(x).toString()),
  dec2: (x) => (x === null ? '-' : x.toFixed(2)),
  dec1: (x) => (x === null ? '-' : x.toFixed(1)),
  pct: (x) => (x === null ? '-' : `${x.toFixed(1)} %`),
  ratio: (x) => (x === null || !Number.isFinite(x) ? '-' : `${x.toFixed(2)}×`),
};

function table(header, rows) {
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map((h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  return lines.join('\n');
}

/** The main table of a scenario. */
export function scenarioTable(rows) {
  return table(
    [
      'contender',
      'req/s',
      'spread',
      'p50 ms',
      'p99 ms',
      'errors',
      'non-2xx',
      'CPU-s/10k req',
      'proxy CPU',
      'peak RSS MB',
      'loadgen CPU',
      'other CPU',
    ],
    rows.map((r) => [
      r.label + (r.failedRuns ? ` (${r.failedRuns} run(s) failed)` : ''),
      fmt.int(r.reqPerSec),
      r.spreadPct === null ? '-' : `±${(r.spreadPct / 2).toFixed(1)} %`,
      fmt.ms(r.p50),
      fmt.ms(r.p99),
      fmt.int(r.errors),
      fmt.int(r.non2xx),
      fmt.dec2(r.cpuSecPer10k),
      r.cpuPct === null ? '-' : `${Math.round(r.cpuPct)} %`,
      fmt.dec1(r.peakRssMb),
      r.generatorCpuPct === null ? '-' : `${Math.round(r.generatorCpuPct)} %${r.generatorCpuPct >= CLIENT_BOUND_PCT ? ' ¹' : ''}`,
      r.otherCpuPct === null ? '-' : `${Math.round(r.otherCpuPct)} %${r.otherCpuPct >= NOISY_PCT ? ' ²' : ''}`,
    ]),
  );
}

/** The load generator is one Node thread: near a full core, it is the bottleneck. */
const CLIENT_BOUND_PCT = 90;
/** Other processes on the machine used this much of a core during the run. */
const NOISY_PCT = 25;

/** Footnotes for the markers a table used. */
export function footnotes(rows) {
  const lines = [];
  if (rows.some((r) => r.generatorCpuPct >= CLIENT_BOUND_PCT)) {
    lines.push(
      `¹ the load generator (one Node thread) used ≥ ${CLIENT_BOUND_PCT} % of a core: that figure is capped by the client, not the contender`,
    );
  }
  if (rows.some((r) => r.otherCpuPct >= NOISY_PCT)) {
    lines.push(`² processes outside the bench used ≥ ${NOISY_PCT} % of a core during a run (worst round shown): that figure is disturbed`);
  }
  return lines;
}

function ratioLine(name, a, b) {
  if (!a || !b) return null;
  return (
    `- ${name}: req/s ${fmt.ratio(a.reqPerSec / b.reqPerSec)}, p50 ${fmt.ratio(a.p50 / b.p50)}, p99 ${fmt.ratio(a.p99 / b.p99)}` +
    (a.cpuSecPer10k !== null && b.cpuSecPer10k !== null ? `, CPU-s/10k ${fmt.ratio(a.cpuSecPer10k / b.cpuSecPer10k)}` : '') +
    (a.peakRssMb !== null && b.peakRssMb !== null ? `, peak RSS ${fmt.ratio(a.peakRssMb / b.peakRssMb)}` : '')
  );
}

/** The ratio lines under a scenario table: Doorman/HAProxy and Doorman/direct per policy. */
export function ratioLines(rows) {
  const byKey = new Map(rows.map((r) => [r.key, r]));
  const lines = [];
  const direct = byKey.get('direct');
  for (const r of rows.filter((row) => row.key.startsWith('doorman') && !row.key.startsWith('doorman-base'))) {
    const suffix = r.key.slice('doorman'.length);
    const label = r.label;
    lines.push(ratioLine(`${label} / ${byKey.get(`haproxy${suffix}`)?.label ?? 'haproxy'}`, r, byKey.get(`haproxy${suffix}`)));
    lines.push(ratioLine(`${label} / direct`, r, direct));
    const base = byKey.get(`doorman-base${suffix}`);
    if (base) lines.push(ratioLine(`${label} / ${base.label}`, r, base));
  }
  for (const name of ['doorman', 'haproxy']) {
    const lc = byKey.get(`${name} leastconn`);
    const rr = byKey.get(`${name} roundrobin`);
    if (lc && rr)
      lines.push(`- ${name} p99 roundrobin / leastconn: ${fmt.ratio(rr.p99 / lc.p99)} (${fmt.ms(rr.p99)} ms vs ${fmt.ms(lc.p99)} ms)`);
  }
  return lines.filter(Boolean);
}

/** The memory scenario's own table. */
export function memoryTable(rows) {
  const withMemory = rows.filter((r) => r.memory);
  if (withMemory.length === 0) return '';
  const n = withMemory[0].memory.idleConnections;
  const sec = withMemory[0].memory.sustainedSec;
  const hold = withMemory[0].memory.idleHoldSec;
  return table(
    [
      'contender',
      `req/s (${sec} s)`,
      'RSS start MB',
      'RSS end MB',
      'drift',
      'RSS max MB',
      'after load MB',
      `idle ${hold} s MB`,
      `${n} idle conns, at 2 s MB`,
      `${n} idle conns, at ${hold} s MB`,
      'KB/conn',
      'after close MB',
      'conns opened',
    ],
    withMemory.map((r) => {
      const m = r.memory;
      return [
        r.label,
        fmt.int(r.reqPerSec),
        fmt.dec1(m.startMb),
        fmt.dec1(m.endMb),
        `${m.driftPct >= 0 ? '+' : ''}${m.driftPct.toFixed(1)} %`,
        fmt.dec1(m.maxMb),
        fmt.dec1(m.afterLoadMb),
        fmt.dec1(m.idleBaselineMb),
        fmt.dec1(m.idleOpenMb),
        fmt.dec1(m.idleHeldMb),
        fmt.dec1(m.idleKbPerConnection),
        fmt.dec1(m.idleClosedMb),
        `${m.idleOpened}/${n} (${m.idleStillOpen} still open)`,
      ];
    }),
  );
}
