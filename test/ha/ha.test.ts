// High availability, end to end: two Doormans, each with keepalived from
// examples/keepalived/, in network namespaces of their own; a client sends a steady,
// bounded stream of requests to the virtual address while Doorman on lb1 stops and
// comes back. docs/ha.md walks through the same steps by hand.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { CLI_PATH, startProcess, type RunningCli } from '../helpers/cli.js';
import { tempDir, writePair } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';
import { watchAddress, type AddressWatch } from './address-watch.js';
import { createLab, findCommand, HOSTS, namespaceProblem, removeStaleLabs, run, VIRTUAL_ADDRESS, type Host, type Lab } from './lab.js';
import { formatSwitch, isRequestRecord, serversByUser, succeeded, switchReport, type RequestRecord } from './traffic.js';

const EXAMPLES = fileURLToPath(new URL('../../examples/keepalived/', import.meta.url));
const HERE = fileURLToPath(new URL('./', import.meta.url));
const CTL_PATH = fileURLToPath(new URL('../../dist/ctl.js', import.meta.url));

const USERS = 4;
/** The bound for the address to leave a node whose Doorman stopped. */
const FAILOVER_LIMIT_MS = 4_000;
/** Failing back waits for the check to rise (2 s), then VRRP's master-down timer (3 adverts + skew, 3.4 s). */
const FAILBACK_LIMIT_MS = 8_000;
/** Successful requests per user through the new node before a phase counts as done. */
const SETTLED = 5;
const LB_ADDRESS = { lb1: HOSTS.lb1[0], lb2: HOSTS.lb2[0] } as const;
type Balancer = keyof typeof LB_ADDRESS;

const pki = testPki();
const cleanups: Array<() => Promise<void>> = [];

// Long enough for every process's SIGTERM grace (they stop in parallel) and the namespaces' removal.
afterEach(async () => {
  const problems: string[] = [];
  while (cleanups.length) await cleanups.pop()!().catch((err: unknown) => problems.push(String(err)));
  if (problems.length) throw new Error(`cleanup: ${problems.join('\n')}`);
}, 30_000);

/**
 * An example file with its site-specific values replaced. Every value must occur in the
 * file, so an edit to the examples that the test no longer matches fails here loudly.
 */
function renderExample(name: string, values: Readonly<Record<string, string>>): string {
  let text = readFileSync(join(EXAMPLES, name), 'utf8');
  for (const [from, to] of Object.entries(values)) {
    if (!text.includes(from)) throw new Error(`examples/keepalived/${name} no longer contains "${from}"`);
    text = text.split(from).join(to);
  }
  return text;
}

/** SIGTERM, then SIGKILL if still running after `graceMs`. */
async function stop(running: RunningCli, graceMs = 5_000): Promise<void> {
  if (running.child.exitCode !== null || running.child.signalCode !== null) return;
  running.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)));
  const outcome = await Promise.race([running.exited, late]);
  clearTimeout(timer);
  if (outcome === 'late') await running.kill();
}

/** The last lines a process wrote, for a failure's diagnosis. */
function tail(name: string, running: RunningCli, count = 15): string {
  const out = running.lines.slice(-count).map((line) => (typeof line.raw === 'string' ? line.raw : JSON.stringify(line)));
  const err = running.stderr().split('\n').slice(-count).join('\n');
  return `--- ${name} stdout\n${out.join('\n')}\n--- ${name} stderr\n${err}`;
}

describe('an active/standby pair with keepalived', () => {
  it('moves the address to lb2 when Doorman on lb1 stops and back when it returns; clients keep their server', async (ctx) => {
    const problem = await namespaceProblem();
    if (problem) {
      // Visible in every reporter: a skipped HA test must never read as a pass.
      console.warn(`skipped: no network namespaces (${problem})`);
      ctx.skip(`skipped: no network namespaces (${problem})`);
    }
    const keepalived = findCommand('keepalived');
    if (!keepalived) throw new Error('keepalived is not installed: apt-get install keepalived (.ci/run does)');
    // The examples' track script runs curl.
    if (!findCommand('curl')) throw new Error('curl is not installed: apt-get install curl (.ci/run does)');

    const testStarted = Date.now();
    const processes: Array<[name: string, running: RunningCli]> = [];
    ctx.onTestFailed(() => {
      for (const [name, running] of processes) console.error(tail(name, running));
    });

    await removeStaleLabs();
    const dir = tempDir('doorman-ha-');
    cleanups.push(() => Promise.resolve(rmSync(dir, { recursive: true, force: true })));
    const lab: Lab = await createLab();
    cleanups.push(() => lab.remove()); // after every process below is stopped
    cleanups.push(async () => {
      await Promise.all(processes.map(([, running]) => stop(running)));
    });

    /** Starts a long-running command inside a host's namespace; stopped at cleanup. */
    const startIn = (host: Host, name: string, argv: readonly string[]): RunningCli => {
      const { command, args } = lab.inside(host, argv);
      const started = startProcess(command, args, dir);
      processes.push([name, started]);
      return started;
    };

    // Certificates of this run: the front one (clients trust the test CA) and one
    // self-signed per server, each pinned as its own trust anchor by both balancers.
    const serverCerts = { web1: pki.selfSigned('web1'), web2: pki.selfSigned('web2') };
    writePair(dir, 'ca', pki.ca);

    for (const [index, name] of (['web1', 'web2'] as const).entries()) {
      const files = writePair(dir, name, serverCerts[name]);
      const backend = startIn('backends', name, [
        process.execPath,
        join(HERE, 'backend.js'),
        '--name',
        name,
        '--bind',
        `${HOSTS.backends[index]}:8443`,
        '--cert',
        join(dir, files.cert),
        '--key',
        join(dir, files.key),
      ]);
      await backend.waitForLine((line) => typeof line.listening === 'string', 10_000, `${name} listening`);
    }

    // Both nodes run the example config: the same file, the same cookie secret.
    const token = randomBytes(16).toString('hex');
    const doormanConfig = renderExample('doorman.yaml', {
      'CHANGE-ME-admin-token': token,
      'CHANGE-ME-cookie-secret': randomBytes(16).toString('hex'),
      '/var/lib/doorman/state.json': 'state.json',
    });
    const notifyScript = join(dir, 'doorman-notify.sh');
    writeFileSync(notifyScript, readFileSync(join(EXAMPLES, 'doorman-notify.sh')));
    chmodSync(notifyScript, 0o755); // enable_script_security: root-owned, writable by root only
    for (const node of ['lb1', 'lb2'] as const) {
      const nodeDir = join(dir, node);
      mkdirSync(join(nodeDir, 'certs'), { recursive: true });
      writePair(join(nodeDir, 'certs'), 'lb', pki.front);
      writeFileSync(join(nodeDir, 'certs', 'web1.crt'), serverCerts.web1.cert);
      writeFileSync(join(nodeDir, 'certs', 'web2.crt'), serverCerts.web2.cert);
      writeFileSync(join(nodeDir, 'lb.yaml'), doormanConfig);
      writeFileSync(
        join(nodeDir, 'keepalived.conf'),
        renderExample(`keepalived-${node}.conf`, {
          '/etc/keepalived/doorman-notify.sh /var/log/doorman-ha.log': `${notifyScript} ${join(nodeDir, 'transitions.log')}`,
        }),
      );
    }

    const startDoorman = async (node: Balancer): Promise<RunningCli> => {
      const started = startIn(node, `doorman ${node}`, [process.execPath, CLI_PATH, '--config', join(dir, node, 'lb.yaml')]);
      await started.waitForLine((line) => line.msg === 'listening', 10_000, `Doorman on ${node} listening`);
      return started;
    };
    const doorman = { lb1: await startDoorman('lb1'), lb2: await startDoorman('lb2') };

    // Watches first, so no move of the address goes unseen.
    const watch = {} as Record<Balancer, AddressWatch>;
    for (const node of ['lb1', 'lb2'] as const) {
      watch[node] = await watchAddress(lab.namespace(node), VIRTUAL_ADDRESS);
      cleanups.push(() => watch[node].close());
    }
    for (const node of ['lb1', 'lb2'] as const) {
      const nodeDir = join(dir, node);
      // Foreground, VRRP only, logging to stdout, with pid files of its own.
      startIn(node, `keepalived ${node}`, [
        keepalived,
        '--vrrp',
        '--dont-fork',
        '--log-console',
        '--log-detail',
        '--use-file',
        join(nodeDir, 'keepalived.conf'),
        '--pid',
        join(nodeDir, 'keepalived.pid'),
        '--vrrp_pid',
        join(nodeDir, 'vrrp.pid'),
      ]);
    }
    // init_fail: each node proves its Doorman healthy (2 s), then lb1 waits out the master-down timer.
    await watch.lb1.until(true, 10_000);

    const client = startIn('client', 'client', [
      process.execPath,
      join(HERE, 'client.js'),
      '--url',
      `https://${VIRTUAL_ADDRESS}/`,
      '--ca',
      join(dir, 'ca.crt'),
      '--servername',
      'localhost',
      '--users',
      String(USERS),
      '--interval-ms',
      '50',
      '--timeout-ms',
      '3000',
      '--max-requests',
      '6000',
      '--max-ms',
      '50000',
    ]);
    const records = () => client.lines.filter(isRequestRecord) as RequestRecord[];
    /** Waits until every user has had SETTLED successful requests through `node` started after `after`. */
    const settledOn = (node: Balancer, after: number, timeoutMs = 10_000) =>
      waitFor(
        () => {
          const served = records().filter((r) => r.start >= after && succeeded(r) && r.via === LB_ADDRESS[node]);
          return Array.from({ length: USERS }, (_, user) => served.filter((r) => r.user === user).length).every((n) => n >= SETTLED);
        },
        timeoutMs,
        `every user served through ${node}`,
      );
    await settledOn('lb1', 0);

    // 1. Doorman on lb1 stops (SIGTERM: /healthz turns 503, listeners close): lb1 gives the address up.
    const stoppedAt = Date.now();
    doorman.lb1.child.kill('SIGTERM');
    const movedToLb2 = Math.max(await watch.lb2.until(true, 10_000), await watch.lb1.until(false, 10_000));
    expect((await doorman.lb1.exited).code).toBe(0);
    await settledOn('lb2', movedToLb2);

    // 2. Doorman on lb1 returns: once its check rises, lb1 preempts (auto_failback on).
    doorman.lb1 = await startDoorman('lb1');
    const returnedAt = Date.now();
    const movedToLb1 = Math.max(await watch.lb1.until(true, 15_000), await watch.lb2.until(false, 15_000));
    await settledOn('lb1', movedToLb1);

    client.child.kill('SIGTERM');
    await client.waitForLine((line) => line.done === true, 5_000, 'the client to finish');
    const all = records();

    const failover = switchReport(all, { name: 'failover lb1 -> lb2', from: stoppedAt, movedAt: movedToLb2, until: returnedAt });
    const failback = switchReport(all, { name: 'failback lb2 -> lb1', from: returnedAt, movedAt: movedToLb1, until: Infinity });
    const beforeAnySwitch = all.filter((r) => r.start < stoppedAt && !succeeded(r));

    // 3. Operators change a server on both nodes, through both admin APIs (docs/ha.md).
    const ctl = (node: Balancer, ...words: string[]) => {
      const { command, args } = lab.inside('client', [
        process.execPath,
        CTL_PATH,
        '--admin',
        `http://${LB_ADDRESS[node]}:9090`,
        '--token',
        token,
        ...words,
      ]);
      return run(command, args, 10_000);
    };
    const stateOfWeb1 = async (node: Balancer) => {
      const state = JSON.parse(await ctl(node, 'state', '--json')) as { backends: { servers: { name: string; state: string }[] }[] };
      return state.backends[0]!.servers.find((s) => s.name === 'web1')!.state;
    };
    for (const node of ['lb1', 'lb2'] as const) await ctl(node, 'set', 'web/web1', 'drain');
    const drained = [await stateOfWeb1('lb1'), await stateOfWeb1('lb2')];

    // The notify scripts logged each node's transitions.
    const transitions = (node: Balancer) => {
      try {
        return readFileSync(join(dir, node, 'transitions.log'), 'utf8');
      } catch {
        return '';
      }
    };
    await waitFor(
      () => /-> MASTER/.test(transitions('lb2')) && (transitions('lb1').match(/-> MASTER/g) ?? []).length >= 2,
      5_000,
      'notify lines',
    );

    console.log(
      [
        `HA lab: ${all.length} requests from ${USERS} users, ${all.filter((r) => !succeeded(r)).length} failed, in ${((Date.now() - testStarted) / 1000).toFixed(1)} s`,
        `  ${formatSwitch(failover)}`,
        `  ${formatSwitch(failback).replace('address moved in', 'address moved back in')} (counted from Doorman on lb1 listening again)`,
      ].join('\n'),
    );

    expect(beforeAnySwitch).toEqual([]);
    expect(failover.moveMs).toBeLessThan(FAILOVER_LIMIT_MS);
    expect(failback.moveMs).toBeLessThan(FAILBACK_LIMIT_MS);
    // Connections in flight on the node losing the address may break; none started after the move.
    expect(failover.failedAfterMove).toEqual([]);
    expect(failback.failedAfterMove).toEqual([]);
    // Every user kept the server its first answer named, through both balancers, and was
    // never given a new cookie: the cookie names a server, not a balancer.
    const servers = serversByUser(all);
    expect([...servers.values()].map((s) => s.size)).toEqual(Array(USERS).fill(1));
    expect(new Set([...servers.values()].flatMap((s) => [...s])).size).toBe(2);
    for (let user = 0; user < USERS; user++) {
      expect(all.filter((r) => r.user === user && r.setCookie).length, `cookies given to user ${user}`).toBe(1);
    }
    expect(drained).toEqual(['DRAIN', 'DRAIN']);
  }, 60_000);
});
