#!/usr/bin/env node
// `npm run bench`: every scenario against every contender, interleaved round by round
// (A B C, A B C, ...), on 127.0.0.1 only. Starts two HTTPS web servers as separate
// processes, starts each proxy fresh for each (scenario, contender, round), measures,
// stops it by PID; prints Markdown tables and writes bench/results/<timestamp>.json.
// Needs `npm run build` first (certificates come from dist/dev/pki.js).
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CONTENDERS } from './contenders/index.js';
import { findAnomalies } from './lib/anomalies.js';
import { parseBenchArgs, USAGE } from './lib/args.js';
import { makeCerts } from './lib/certs.js';
import { machineInfo, machineLines } from './lib/machine.js';
import { measureLoad } from './lib/measure.js';
import { killAllSync, readFirstJsonLine, readText, startProcess, stopAll, tail } from './lib/processes.js';
import { footnotes, memoryTable, ratioLines, scenarioTable, summarize } from './lib/report.js';
import { requestOnce } from './lib/tls-client.js';
import { SCENARIOS } from './scenarios/index.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SERVER_NAMES = ['web1', 'web2'];
const say = (line = '') => process.stdout.write(`${line}\n`);

/** Stops with a clear message unless dist/ exists; warns when src/ is newer than it. */
function checkBuild() {
  const needed = ['dist/lb.js', 'dist/dev/pki.js', 'dist/tls/pin.js'];
  const missing = needed.filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length) {
    throw new Error(`missing ${missing.join(', ')}: run \`npm run build\` first (the bench runs Doorman from dist/)`);
  }
  const built = statSync(join(ROOT, 'dist/lb.js')).mtimeMs;
  let newest = 0;
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) newest = Math.max(newest, statSync(path).mtimeMs);
    }
  };
  walk(join(ROOT, 'src'));
  if (newest > built) say('warning: src/ has changed since dist/ was built; run `npm run build` to bench the current code');
}

function pickScenarios(only) {
  const runnable = (s) => {
    const { ok, why } = s.available?.() ?? { ok: true };
    if (!ok) say(`skipping scenario ${s.name}: ${why}`);
    return ok;
  };
  if (!only) return SCENARIOS.filter((s) => s.quick).filter(runnable);
  if (only.includes('all')) return SCENARIOS.filter(runnable);
  const unknown = only.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown.length)
    throw new Error(`--only: unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}, all`);
  return SCENARIOS.filter((s) => only.includes(s.name)).filter(runnable);
}

async function pickContenders(names) {
  if (names) {
    const unknown = names.filter((n) => !CONTENDERS.some((c) => c.name === n));
    if (unknown.length) throw new Error(`--contenders: unknown ${unknown.join(', ')}; known: ${CONTENDERS.map((c) => c.name).join(', ')}`);
  }
  const chosen = [];
  for (const contender of CONTENDERS.filter((c) => !names || names.includes(c.name))) {
    const { ok, why } = await contender.available();
    if (ok) chosen.push(contender);
    else say(`skipping ${contender.name}: ${why}`);
  }
  return chosen;
}

/** The (contender, balance) pairs of a scenario; a policy name is shown only when it varies. */
function variantsOf(scenario, contenders) {
  const wanted = scenario.balances ?? ['leastconn'];
  const variants = [];
  for (const contender of contenders.filter((c) => !scenario.skip?.includes(c.name))) {
    const balances = contender.balances.length > 1 ? contender.balances.filter((b) => wanted.includes(b)) : contender.balances;
    for (const balance of balances) {
      const label = wanted.length > 1 && contender.balances.length > 1 ? `${contender.name} ${balance}` : contender.name;
      variants.push({ contender, balance: balance ?? wanted[0], key: label, label });
    }
  }
  return variants;
}

async function startServers(dir, certs) {
  const servers = [];
  for (const name of SERVER_NAMES) {
    const proc = startProcess(
      name,
      process.execPath,
      [join(ROOT, 'bench/backend.js'), '--name', name, '--cert', certs.servers[name].cert, '--key', certs.servers[name].key],
      {
        stdoutFile: 'pipe',
        stderrFile: join(dir, `${name}.err`),
      },
    );
    const { port } = await readFirstJsonLine(proc);
    servers.push({ name, port, proc });
  }
  return servers;
}

/** A verified GET through the contender, retried until 200 (bounded). */
async function probe(port, servername, ca, path, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await requestOnce({ port, servername, ca, path });
      if (last.status === 200) return last;
    } catch (err) {
      last = err;
    }
    await sleep(200);
  }
  throw new Error(`no 200 through the proxy within ${timeoutMs} ms: ${last instanceof Error ? last.message : `status ${last?.status}`}`);
}

/** One (scenario, variant, round): start the proxy, probe, measure, check, stop. */
async function runOne({ scenario, variant, round, args, certs, servers, dir }) {
  const tag = `${scenario.name}-${variant.key.replace(/\W+/g, '-')}-r${round}`;
  const facts = {};
  let handle;
  let result = null;
  let error = null;
  let tls = null;
  let prepared = null;
  try {
    handle = await variant.contender.start({ certs, servers, balance: variant.balance, dir, tag, routes: scenario.routes ?? 0 });
    const first = await probe(handle.port, handle.servername, certs.ca, scenario.path);
    tls = { protocol: first.protocol, cipher: first.cipher };
    if (handle.serverStates) {
      facts.statesBefore = await handle.serverStates();
    }
    const target = { port: handle.port, servername: handle.servername, ca: certs.ca, prepared: null };
    prepared = target.prepared = scenario.prepare ? scenario.prepare(target, first) : null;
    const ctx = {
      pid: handle.pid,
      warmupSec: args.warmupSec,
      durationSec: args.durationSec,
      connections: scenario.connections ? scenario.connections(args) : args.connections,
      memoryDurationSec: args.memoryDurationSec,
      idleConnections: args.idleConnections,
      idleHoldSec: args.idleHoldSec,
      serverPids: servers.map((s) => s.pid),
    };
    result = scenario.measure ? await scenario.measure(target, ctx) : await measureLoad(scenario.run, target, ctx);
    if (handle.proc?.exited) facts.crashed = handle.proc.exited;
    if (handle.serverStates && !facts.crashed) {
      facts.statesAfter = await handle.serverStates();
      facts.requestsByCode = await handle.requestsByCode();
    }
  } catch (err) {
    error = err.message;
    if (handle?.proc?.exited) facts.crashed = handle.proc.exited;
  } finally {
    if (handle) {
      facts.stopExit = await handle.stop();
      if (handle.proc?.stderrFile) facts.stderr = readText(handle.proc.stderrFile);
      if (facts.crashed && handle.proc?.stderrFile) facts.stderrTail = tail(handle.proc.stderrFile, 5);
      if (handle.summarizeLog) facts.log = await handle.summarizeLog().catch((err) => ({ error: err.message }));
      // The access logs are large: keep only what was summarized.
      if (handle.logFile) rmSync(handle.logFile, { force: true });
    }
  }
  const anomalies = findAnomalies({
    contender: variant.contender.name,
    scenario: scenario.name,
    result,
    facts: { ...facts, log: facts.log?.error ? null : facts.log },
    connections: scenario.connections ? scenario.connections(args) : args.connections,
  });
  if (error) anomalies.unshift(`run failed: ${error}`);
  return {
    scenario: scenario.name,
    contender: variant.contender.name,
    balance: variant.balance,
    label: variant.label,
    round,
    tls,
    prepared,
    result,
    facts,
    anomalies,
  };
}

function progressLine(run, rounds) {
  const r = run.result;
  const head = `[${run.scenario} ${run.round}/${rounds}] ${run.label.padEnd(20)}`;
  if (!r) return `${head} FAILED`;
  const parts = [
    `${Math.round(r.reqPerSec).toLocaleString('en-US').padStart(7)} req/s`,
    `p50 ${r.latency.p50?.toFixed(2)} ms`,
    `p99 ${r.latency.p99?.toFixed(2)} ms`,
  ];
  if (r.cpuSecPer10k !== null) parts.push(`${r.cpuSecPer10k.toFixed(2)} CPU-s/10k`, `peak ${r.peakRssMb.toFixed(1)} MB`);
  if (r.errors + r.timeouts + r.non2xx > 0) parts.push(`errors ${r.errors + r.timeouts} non-2xx ${r.non2xx}`);
  return `${head} ${parts.join('  ')}`;
}

function scenarioReport(scenario, rows, runs) {
  const lines = [`### ${scenario.name}: ${scenario.title}`, ''];
  lines.push(scenarioTable(rows));
  const notes = footnotes(rows);
  if (notes.length) lines.push('', ...notes);
  if (scenario.name === 'memory') lines.push('', memoryTable(rows));
  const ratios = ratioLines(rows);
  if (ratios.length) lines.push('', ...ratios);
  const tlsSeen = [...new Set(runs.filter((r) => r.tls).map((r) => `${r.label}: ${r.tls.protocol} ${r.tls.cipher}`))];
  if (scenario.name === 'newconn' && tlsSeen.length) lines.push(`- negotiated: ${tlsSeen.join('; ')}`);
  const sticky = [...new Set(runs.filter((r) => r.prepared?.cookieSource).map((r) => `${r.label}: ${r.prepared.cookieSource}`))];
  if (sticky.length) lines.push(`- cookie: ${sticky.join('; ')}`);
  return lines.join('\n');
}

async function main() {
  let args;
  try {
    args = parseBenchArgs();
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (args.help) return say(USAGE);
  if (process.platform !== 'linux') throw new Error('the bench reads /proc: Linux only');
  checkBuild();
  const scenarios = pickScenarios(args.only);
  const contenders = await pickContenders(args.contenders);
  const machine = machineInfo();
  for (const line of machineLines(machine)) say(line);
  say(
    `duration ${args.durationSec} s, warm-up ${args.warmupSec} s, rounds ${args.rounds}, connections ${args.connections}, front key ${args.frontKey}; scenarios: ${scenarios.map((s) => s.name).join(', ')}`,
  );
  for (const c of contenders) say(`- ${c.name}: ${c.describe()}`);

  const dir = mkdtempSync(join(tmpdir(), 'doorman-bench-'));
  const cleanup = async () => {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  };
  let interrupted = false;
  process.once('SIGINT', () => {
    interrupted = true;
    say('\ninterrupted: stopping every child process');
    void cleanup().finally(() => process.exit(130));
  });
  process.once('exit', killAllSync);

  const startedAt = new Date();
  const report = { startedAt: startedAt.toISOString(), machine, options: args, scenarios: {} };
  const printed = [];
  try {
    say(`making certificates (node-forge, RSA-2048${args.frontKey === 'ecdsa' ? '; front certificate ECDSA P-256' : ''})...`);
    const certs = await makeCerts(dir, SERVER_NAMES, { frontKey: args.frontKey });
    const servers = await startServers(dir, certs);
    say(`web servers: ${servers.map((s) => `${s.name} 127.0.0.1:${s.port}`).join(', ')}`);
    for (const scenario of scenarios) {
      const variants = variantsOf(scenario, contenders);
      const rounds = scenario.rounds ?? args.rounds;
      const runs = [];
      say(`\n== ${scenario.name}: ${scenario.title}`);
      for (let round = 1; round <= rounds && !interrupted; round += 1) {
        for (const variant of variants) {
          if (interrupted) break;
          const run = await runOne({
            scenario,
            variant,
            round,
            args,
            certs,
            servers: servers.map(({ name, port, proc }) => ({ name, port, pid: proc.pid })),
            dir,
          });
          runs.push(run);
          say(progressLine(run, rounds));
          for (const a of run.anomalies) say(`    ! ${a}`);
          for (const s of servers)
            if (s.proc.exited) throw new Error(`web server ${s.name} died: ${JSON.stringify(s.proc.exited)} ${tail(s.proc.stderrFile)}`);
        }
      }
      const rows = variants.map((v) =>
        summarize(
          v,
          runs.filter((r) => r.label === v.label),
        ),
      );
      report.scenarios[scenario.name] = { title: scenario.title, rows, runs };
      const text = scenarioReport(scenario, rows, runs);
      printed.push(text);
      say(`\n${text}`);
    }
  } finally {
    if (!interrupted) await cleanup();
  }
  if (interrupted) return;

  const anomalies = Object.values(report.scenarios).flatMap((s) =>
    s.runs.flatMap((r) => r.anomalies.map((a) => `${r.scenario} r${r.round} ${r.label}: ${a}`)),
  );
  report.anomalies = anomalies;
  report.finishedAt = new Date().toISOString();
  say('\n================ summary ================\n');
  for (const line of machineLines(machine)) say(line);
  const memoryNote = report.scenarios.memory
    ? `; memory: 1 round of ${args.memoryDurationSec} s, ${args.idleConnections} idle connections held ${args.idleHoldSec} s`
    : '';
  say(
    `duration ${args.durationSec} s per run (after ${args.warmupSec} s warm-up), ${args.rounds} round(s), ${args.connections} connections, front certificate ${args.frontKey === 'ecdsa' ? 'ECDSA P-256' : 'RSA-2048'}${memoryNote}; figures are medians over rounds\n`,
  );
  say(printed.join('\n\n'));
  say(`\n${anomalies.length ? `anomalies (${anomalies.length}):\n${anomalies.map((a) => `- ${a}`).join('\n')}` : 'anomalies: none'}`);
  if (args.writeJson) {
    const resultsDir = join(ROOT, 'bench/results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(report, null, 2));
    say(`\nJSON: ${file}`);
  }
}

main().catch(async (err) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  await stopAll();
  process.exitCode = 1;
});
