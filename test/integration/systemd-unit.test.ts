// examples/systemd/doorman.service, tested without a running systemd: its directives
// are parsed and checked against examples/systemd/lb.yaml, `systemd-analyze` verifies
// it when installed, and its commands run the way systemd would run them, with the
// unit's paths pointed at a temp folder and this checkout.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { parseDuration } from '../../src/config/duration.js';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { startProcess, type CliExit, type RunningCli } from '../helpers/cli.js';
import { request } from '../helpers/client.js';
import { tempDir, writePair } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor, within } from '../helpers/wait.js';
import {
  childPids,
  directive,
  directives,
  isAlive,
  parseExec,
  parseTimespanMs,
  parseUnit,
  restartsOnFailure,
  type Unit,
} from '../helpers/systemd-unit.js';

const REPO = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const UNIT_TEXT = readFileSync(join(REPO, 'examples/systemd/doorman.service'), 'utf8');
const CONFIG_TEXT = readFileSync(join(REPO, 'examples/systemd/lb.yaml'), 'utf8');
const unit = parseUnit(UNIT_TEXT);
type ExampleConfig = {
  workers: unknown;
  maxconn: number;
  timeouts: { shutdown: string };
  admin: { bind: string };
  stateFile: string;
  frontends: Array<{ name: string; bind: string; tls?: { certs: Array<{ cert: string; key: string }> } }>;
  backends: Array<{ servers: Array<{ name: string; address: string; tls: { ca: string } }> }>;
};
const example = parse(CONFIG_TEXT) as ExampleConfig;

const ANALYZE = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8' });
const HAS_ANALYZE = ANALYZE.status === 0;
const HAS_OFFLINE_SECURITY = HAS_ANALYZE && Number(/systemd (\d+)/.exec(ANALYZE.stdout)?.[1] ?? 0) >= 250;
if (!HAS_ANALYZE) process.stderr.write('systemd-unit.test: systemd-analyze not installed: verify and security review skipped\n');

const pki = testPki();
/** Each server's self-signed pair: the server presents it, /etc/doorman/certs holds it as the server's `ca`. */
const serverPairs = new Map(['web1', 'web2'].map((name) => [name, pki.selfSigned(name)]));
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** The unit as installed on this machine: its absolute paths mapped into a temp root and this checkout. */
interface Install {
  readonly etc: string;
  readonly stateDir: string;
  /** The unit file's text with the paths substituted. */
  readonly unitText: string;
  readonly unit: Unit;
  /** Writes /etc/doorman/lb.yaml (with /var/lib/doorman mapped). */
  writeConfig(text: string): void;
}

function install(): Install {
  const root = tempDir('doorman-systemd-');
  const etc = join(root, 'etc/doorman');
  const stateDir = join(root, 'var/lib/doorman');
  const paths: Array<[string, string]> = [
    ['/usr/bin/node', process.execPath],
    ['/opt/doorman', REPO],
    ['/etc/doorman', etc],
    ['/var/lib/doorman', stateDir],
  ];
  const substitute = (text: string) => paths.reduce((t, [from, to]) => t.split(from).join(to), text);
  mkdirSync(join(etc, 'certs'), { recursive: true });
  writePair(join(etc, 'certs'), 'lb', pki.front);
  for (const [name, pair] of serverPairs) writePair(join(etc, 'certs'), name, pair);
  const unitText = substitute(UNIT_TEXT);
  const installed = parseUnit(unitText);
  // StateDirectory=doorman: systemd creates it, owned by User=, before ExecStartPre.
  mkdirSync(stateDir, { recursive: true, mode: Number.parseInt(directive(installed, 'Service', 'StateDirectoryMode') ?? '0755', 8) });
  const install: Install = {
    etc,
    stateDir,
    unitText,
    unit: installed,
    writeConfig: (text) => writeFileSync(join(etc, 'lb.yaml'), substitute(text)),
  };
  install.writeConfig(CONFIG_TEXT);
  return install;
}

/** lb.yaml as the example has it, with loopback binds on port 0 and these servers. */
function testConfig(web: readonly TestBackend[], edit: (config: ExampleConfig) => void = () => {}): string {
  const config = parse(CONFIG_TEXT) as ExampleConfig;
  // Two workers whatever the core count, so KillMode=mixed has a primary and workers to stop.
  config.workers = 2;
  config.admin.bind = '127.0.0.1:0';
  for (const frontend of config.frontends) frontend.bind = '127.0.0.1:0';
  const servers = config.backends[0]!.servers;
  config.backends[0]!.servers = web.map((b) => ({ ...servers.find((s) => s.name === b.name)!, address: b.address }));
  edit(config);
  return stringify(config);
}

/** Runs one Exec*= command to its end, as systemd would (cwd WorkingDirectory=). */
function runExec(line: string, installed: Install, env: Record<string, string> = {}, timeoutMs = 15_000): Promise<CliExit> {
  const { argv } = parseExec(line, env);
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: directive(installed.unit, 'Service', 'WorkingDirectory'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${argv.join(' ')} still running after ${timeoutMs}ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, stdout, stderr });
    });
  });
}

/** `systemctl reload`: every ExecReload= in order; the first failure fails the reload. */
async function reload(installed: Install, mainPid: number): Promise<{ readonly ran: number; readonly exit: CliExit }> {
  const lines = directives(installed.unit, 'Service', 'ExecReload');
  let exit: CliExit | undefined;
  for (const [i, line] of lines.entries()) {
    exit = await runExec(line, installed, { MAINPID: String(mainPid) });
    if (exit.code !== 0 && !parseExec(line, { MAINPID: '' }).prefixes.includes('-')) return { ran: i + 1, exit };
  }
  return { ran: lines.length, exit: exit! };
}

/** `systemctl start`: ExecStartPre= (each must succeed), then ExecStart= left running. */
async function start(installed: Install): Promise<RunningCli> {
  for (const line of directives(installed.unit, 'Service', 'ExecStartPre')) {
    const exit = await runExec(line, installed);
    expect(exit.code, `ExecStartPre failed: ${exit.stderr}`).toBe(0);
  }
  const { argv } = parseExec(directive(installed.unit, 'Service', 'ExecStart')!);
  const main = startProcess(argv[0]!, argv.slice(1), directive(installed.unit, 'Service', 'WorkingDirectory')!);
  cleanups.push(() => main.kill());
  return main;
}

async function backends(): Promise<TestBackend[]> {
  const web: TestBackend[] = [];
  for (const [name, pair] of serverPairs) {
    const b = await startBackend({ name, tls: pair });
    cleanups.push(() => b.close());
    web.push(b);
  }
  return web;
}

/** Resolves with the exit, or rejects once `ms` pass (systemd would then SIGKILL). */
function exitWithin(main: RunningCli, ms: number): Promise<CliExit> {
  return within(main.exited, ms, 'the exit: systemd would SIGKILL it');
}

describe('examples/systemd/doorman.service: directives', () => {
  const required: Array<[section: string, key: string, value: string | RegExp]> = [
    ['Service', 'Type', /^(simple|exec)$/],
    ['Service', 'User', 'doorman'],
    ['Service', 'WorkingDirectory', /^\//],
    ['Service', 'Restart', 'on-failure'],
    ['Service', 'RestartSec', /^\d+(ms|s)?$/],
    ['Service', 'KillMode', 'mixed'],
    ['Service', 'KillSignal', 'SIGTERM'],
    ['Service', 'TimeoutStopSec', /^\d+s$/],
    ['Service', 'StateDirectory', 'doorman'],
    ['Service', 'LimitNOFILE', /^\d+$/],
    ['Service', 'NoNewPrivileges', 'yes'],
    ['Service', 'ProtectSystem', 'strict'],
    ['Service', 'ProtectHome', 'yes'],
    ['Service', 'PrivateTmp', 'yes'],
    ['Service', 'PrivateDevices', 'yes'],
    ['Service', 'ProtectKernelTunables', 'yes'],
    ['Service', 'ProtectKernelModules', 'yes'],
    ['Service', 'ProtectKernelLogs', 'yes'],
    ['Service', 'ProtectControlGroups', 'yes'],
    ['Service', 'RestrictAddressFamilies', 'AF_INET AF_INET6 AF_UNIX'],
    ['Service', 'RestrictNamespaces', 'yes'],
    ['Service', 'LockPersonality', 'yes'],
    ['Service', 'SystemCallFilter', '@system-service'],
    ['Service', 'CapabilityBoundingSet', 'CAP_NET_BIND_SERVICE'],
    ['Service', 'AmbientCapabilities', 'CAP_NET_BIND_SERVICE'],
    ['Install', 'WantedBy', 'multi-user.target'],
  ];
  it.each(required)('[%s] %s=%s', (section, key, value) => {
    const actual = directive(unit, section, key);
    if (typeof value === 'string') expect(actual).toBe(value);
    else expect(actual).toMatch(value);
  });

  it('sets nothing that breaks node or the bind to 443, and writes nowhere but its state directory', () => {
    // V8's JIT needs writable+executable memory; a user namespace would not grant the host's low ports.
    for (const key of ['MemoryDenyWriteExecute', 'PrivateUsers', 'PrivateNetwork', 'ReadWritePaths']) {
      expect(directives(unit, 'Service', key), key).toEqual([]);
    }
  });

  it('checks the same config file before starting and before reloading, and reloads with SIGHUP to the main process', () => {
    const execStart = parseExec(directive(unit, 'Service', 'ExecStart')!).argv;
    const pre = directives(unit, 'Service', 'ExecStartPre').map((l) => parseExec(l));
    // No "-" prefix: a failing check must stop the start.
    expect(pre.map((c) => c.prefixes)).toEqual(['']);
    expect(pre[0]!.argv).toEqual([...execStart, '--check']);
    const reloads = directives(unit, 'Service', 'ExecReload').map((l) => parseExec(l, { MAINPID: '4242' }));
    expect(reloads.map((c) => c.prefixes)).toEqual(['', '']);
    expect(reloads[0]!.argv).toEqual([...execStart, '--check']);
    expect(reloads[1]!.argv).toEqual(['/bin/kill', '-HUP', '4242']);
    expect(execStart.slice(0, 2)).toEqual(['/usr/bin/node', `${directive(unit, 'Service', 'WorkingDirectory')}/dist/lb.js`]);
  });

  it('fits lb.yaml: stop timeout above the drain, state file in the state directory, files for every connection, low ports allowed', () => {
    const configArg = parseExec(directive(unit, 'Service', 'ExecStart')!).argv;
    const configPath = configArg[configArg.indexOf('--config') + 1]!;
    expect(configPath).toBe('/etc/doorman/lb.yaml');
    // The primary SIGKILLs workers still draining 2 s after timeouts.shutdown; systemd must wait longer.
    expect(parseTimespanMs(directive(unit, 'Service', 'TimeoutStopSec')!)).toBeGreaterThan(
      parseDuration(example.timeouts.shutdown) + 2_000,
    );
    expect(posix.dirname(example.stateFile)).toBe(`/var/lib/${directive(unit, 'Service', 'StateDirectory')}`);
    expect(Number(directive(unit, 'Service', 'LimitNOFILE'))).toBeGreaterThanOrEqual(2 * example.maxconn);
    expect(example.admin.bind).toBe('127.0.0.1:9090');
    expect(example.workers).toBe('auto');
    const lowPorts = example.frontends.filter((f) => Number(f.bind.split(':').at(-1)) < 1024);
    expect(lowPorts.map((f) => f.name)).toEqual(['https', 'http']);
    expect(directive(unit, 'Service', 'AmbientCapabilities')!.split(/\s+/)).toContain('CAP_NET_BIND_SERVICE');
    // Every certificate and key is relative, so under /etc/doorman (readable under ProtectSystem=strict).
    const files = [
      ...example.frontends.flatMap((f) => f.tls?.certs.flatMap((c) => [c.cert, c.key]) ?? []),
      ...example.backends.flatMap((b) => b.servers.map((s) => s.tls.ca)),
    ];
    for (const file of files) expect(posix.resolve(posix.dirname(configPath), file)).toMatch(/^\/etc\/doorman\/certs\//);
  });
});

describe('examples/systemd/doorman.service: systemd-analyze', () => {
  it.skipIf(!HAS_ANALYZE)(`passes systemd-analyze verify${HAS_ANALYZE ? '' : ' (skipped: systemd-analyze not installed)'}`, () => {
    const installed = install();
    // verify checks that each Exec*= binary exists: the copy points at this node and checkout.
    const copy = join(dirname(installed.etc), 'doorman.service');
    writeFileSync(copy, installed.unitText);
    const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
    // Unknown or misspelled directives are only warnings ("ignoring"): none may mention the unit.
    const aboutUnit = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l.includes('doorman.service'));
    expect({ status: result.status, aboutUnit }).toEqual({ status: 0, aboutUnit: [] });
  });

  it.skipIf(!HAS_OFFLINE_SECURITY)(
    `keeps systemd-analyze security's exposure at 2.0 or below${HAS_OFFLINE_SECURITY ? '' : ' (skipped: needs systemd-analyze 250+)'}`,
    () => {
      const installed = install();
      const copy = join(dirname(installed.etc), 'doorman.service');
      writeFileSync(copy, installed.unitText);
      const result = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', copy], { encoding: 'utf8' });
      const exposure = /Overall exposure level for doorman\.service: ([\d.]+)/.exec(result.stdout)?.[1];
      expect(exposure, result.stdout + result.stderr).toBeDefined();
      expect(Number(exposure)).toBeLessThanOrEqual(2.0);
    },
  );
});

describe('examples/systemd/doorman.service: its commands, run as systemd would', () => {
  it('ExecStartPre accepts lb.yaml as shipped and refuses a broken one, so systemd would not start', async () => {
    const installed = install();
    const pre = directive(installed.unit, 'Service', 'ExecStartPre')!;
    expect(await runExec(pre, installed)).toMatchObject({ code: 0, stdout: 'config OK\n' });

    installed.writeConfig(CONFIG_TEXT.replace('  shutdown: 30s', '  shutdwon: 30s'));
    const typo = await runExec(pre, installed);
    expect(typo.code).toBe(1);
    expect(typo.stderr).toMatch(/^timeouts\.shutdwon: /m);

    installed.writeConfig(CONFIG_TEXT);
    unlinkSync(join(installed.etc, 'certs/lb.key'));
    const noKey = await runExec(pre, installed);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toMatch(/^frontends\.0\.tls\.certs\.0\.key: /m);
  });

  it('ExecStart serves; ExecReload checks then reloads; KillSignal to the main process drains to exit 0 within TimeoutStopSec', async () => {
    const web = await backends();
    const installed = install();
    installed.writeConfig(testConfig(web.slice(0, 1)));
    const main = await start(installed);
    const mainPid = main.child.pid!;
    const https = (await main.waitForLine((l) => l.msg === 'listening' && l.frontend === 'https', 15_000, 'listening')).port as number;
    const admin = `http://127.0.0.1:${(await main.waitForLine((l) => l.msg === 'admin listening', 15_000, 'admin listening')).port as number}`;
    expect((await request({ port: https, ca: pki.ca.cert })).headers['x-backend']).toBe('web1');

    // `systemctl reload` with a broken file: the check fails, SIGHUP is never sent, the old config keeps serving.
    installed.writeConfig(testConfig(web, (c) => Object.assign(c, { maxconnn: 1 })));
    const refused = await reload(installed, mainPid);
    expect({ ran: refused.ran, code: refused.exit.code }).toEqual({ ran: 1, code: 1 });
    expect(refused.exit.stderr).toMatch(/^maxconnn: /m);
    expect(main.lines.some((l) => l.msg === 'reloading')).toBe(false);

    // A good file: the check passes, /bin/kill -HUP $MAINPID, the primary reloads itself and its workers.
    installed.writeConfig(testConfig(web));
    const reloaded = await reload(installed, mainPid);
    expect({ ran: reloaded.ran, code: reloaded.exit.code }).toEqual({ ran: 2, code: 0 });
    await main.waitForLine((l) => l.msg === 'reloaded', 10_000, 'reloaded');
    // web2, added by the reload, serves once web1 is in MAINT; that state lands in the StateDirectory.
    const maint = await fetch(`${admin}/api/backends/web/servers/web1/state`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'MAINT' }),
    });
    expect(maint.status).toBe(200);
    await waitFor(async () => (await request({ port: https, ca: pki.ca.cert })).headers['x-backend'] === 'web2', 10_000, 'web2 serving');
    const stateFile = join(installed.stateDir, 'state.json');
    await waitFor(() => existsSync(stateFile) && readFileSync(stateFile, 'utf8').includes('MAINT'), 5_000, 'state file written');

    // `systemctl stop` with KillMode=mixed: KillSignal to the main process only; a request in flight finishes.
    const workers = childPids(mainPid);
    expect(workers).toHaveLength(2);
    web[1]!.setHandler((_req, res) => setTimeout(() => res.end('slow\n'), 500));
    const seen = web[1]!.requests.length;
    const slow = request({ port: https, ca: pki.ca.cert });
    await waitFor(() => web[1]!.requests.slice(seen).some((r) => r.url === '/'), 5_000, 'request in flight');
    const stopAt = Date.now();
    process.kill(mainPid, directive(installed.unit, 'Service', 'KillSignal') ?? 'SIGTERM');
    await waitFor(
      async () =>
        (await fetch(`${admin}/healthz`).then(
          (r) => r.status,
          () => 0,
        )) === 503,
      2_000,
      '/healthz 503',
    );
    expect(await slow).toMatchObject({ status: 200, body: 'slow\n' });
    const exit = await exitWithin(main, parseTimespanMs(directive(installed.unit, 'Service', 'TimeoutStopSec')!));
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    expect(Date.now() - stopAt).toBeLessThan(parseDuration(example.timeouts.shutdown));
    expect(restartsOnFailure(exit, installed.unit)).toBe(false);
    // The control group is empty: systemd has nothing left to SIGKILL.
    expect(workers.filter(isAlive)).toEqual([]);
  });

  it('exits non-zero when a port is taken, so Restart=on-failure restarts it', async () => {
    const web = await backends();
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => taken.close(() => r())));
    const port = (taken.address() as AddressInfo).port;
    const installed = install();
    installed.writeConfig(testConfig(web, (c) => (c.frontends[0]!.bind = `127.0.0.1:${port}`)));
    const main = await start(installed);
    const exit = await exitWithin(main, 15_000);
    expect(exit.code).not.toBe(0);
    expect(main.lines.some((l) => l.msg === 'cannot start')).toBe(true);
    expect(restartsOnFailure(exit, installed.unit)).toBe(true);
  });

  it('a killed main process takes its workers with it, and Restart=on-failure restarts it', async () => {
    const web = await backends();
    const installed = install();
    installed.writeConfig(testConfig(web));
    const main = await start(installed);
    await main.waitForLine((l) => l.msg === 'listening' && l.frontend === 'https', 15_000, 'listening');
    const workers = childPids(main.child.pid!);
    expect(workers).toHaveLength(2);
    main.child.kill('SIGKILL');
    const exit = await main.exited;
    expect(restartsOnFailure(exit, installed.unit)).toBe(true);
    // Workers leave when their channel to the primary closes: no stale process holds the ports for the restart.
    await waitFor(() => workers.every((pid) => !isAlive(pid)), 10_000, 'workers gone');
  });
});
