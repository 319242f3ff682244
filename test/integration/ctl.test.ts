// `node dist/ctl.js` against a running balancer's admin port: the state table, set,
// weight, the token, and its exit codes (0 done, 1 API error, 2 usage error).
// dist/ is built by `npm test` (tsc runs before vitest).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminUrl } from '../helpers/admin.js';
import { startBackend } from '../helpers/backend.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';

const CTL = fileURLToPath(new URL('../../dist/ctl.js', import.meta.url));
const pki = testPki();
const certs = { web1: pki.selfSigned('web1'), web2: pki.selfSigned('web2') };
const cleanups: Array<() => Promise<void>> = [];

beforeAll(() => {
  if (!existsSync(CTL)) throw new Error(`${CTL} is missing: run \`npm run build\` (npm test does) first`);
});

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface CtlResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI without blocking this process's event loop (the balancer runs in it). */
function ctl(args: readonly string[], env: Record<string, string> = {}): Promise<CtlResult> {
  const cleanEnv = { ...process.env, ...env };
  if (!('DOORMAN_ADMIN' in env)) delete cleanEnv.DOORMAN_ADMIN;
  if (!('DOORMAN_TOKEN' in env)) delete cleanEnv.DOORMAN_TOKEN;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [CTL, ...args], { env: cleanEnv, timeout: 20_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(new Error(`doorman-ctl did not run: ${err.message}`, { cause: err }));
        return;
      }
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

async function balancer(token?: string): Promise<RunningLb> {
  const web1 = await startBackend({ name: 'web1', tls: certs.web1 });
  cleanups.push(web1.close);
  const web2 = await startBackend({ name: 'web2', tls: certs.web2 });
  cleanups.push(web2.close);
  const running = await startProxy(
    pki.front,
    [
      { name: 'web1', address: web1.address, trust: certs.web1 },
      { name: 'web2', address: web2.address, trust: certs.web2 },
    ],
    { top: { admin: { bind: '127.0.0.1:0', ...(token ? { token } : {}) } } },
  );
  cleanups.push(() => running.close());
  return running;
}

const server = (running: RunningLb, name: string) => running.lb.backends.get('web')!.server(name)!;

describe('doorman ctl', () => {
  it('state prints a table with every server; --json prints /api/state', async () => {
    const running = await balancer();
    const admin = adminUrl(running);
    const table = await ctl(['--admin', admin, 'state']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^BACKEND\/SERVER\s+ADDRESS\s+STATE\s+HEALTH\s+ACTIVE\s+QUEUED\s+WEIGHT\s+LAST CHECK$/);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toMatch(
      new RegExp(
        `^web/web1\\s+${running.lb.backends.get('web')!.server('web1')!.config.address.host.replace(/\./g, '\\.')}:\\d+\\s+UP\\s+UP\\s+0\\s+0\\s+1\\s+-$`,
      ),
    );
    expect(lines[2]).toMatch(/^web\/web2\s/);

    const json = await ctl(['--admin', admin, 'state', '--json']);
    expect(json.code).toBe(0);
    const state = JSON.parse(json.stdout) as { backends: Array<{ name: string; servers: Array<{ name: string; state: string }> }> };
    expect(state.backends[0]!.servers.map((s) => [s.name, s.state])).toEqual([
      ['web1', 'UP'],
      ['web2', 'UP'],
    ]);
  });

  it('set web/web1 drain|maint|ready and weight change the server', async () => {
    const running = await balancer();
    const admin = adminUrl(running);
    const drain = await ctl(['--admin', admin, 'set', 'web/web1', 'drain']);
    expect(drain.code).toBe(0);
    expect(drain.stdout).toContain('web/web1 is DRAIN');
    expect(server(running, 'web1').adminState).toBe('DRAIN');

    expect((await ctl(['--admin', admin, 'set', 'web/web1', 'MAINT'])).code).toBe(0);
    expect(server(running, 'web1').state).toBe('MAINT');
    expect((await ctl(['--admin', admin, 'set', 'web/web1', 'ready'])).code).toBe(0);
    expect(server(running, 'web1').state).toBe('UP');

    const weight = await ctl(['--admin', admin, 'weight', 'web/web2', '9']);
    expect(weight.code).toBe(0);
    expect(server(running, 'web2').weight).toBe(9);

    const table = await ctl(['--admin', admin, 'state']);
    expect(table.stdout).toMatch(/^web\/web2\s.*\s9\s+-$/m);
  });

  it('takes the admin URL and token from DOORMAN_ADMIN / DOORMAN_TOKEN, or --token', async () => {
    const running = await balancer('ctl-secret');
    const admin = adminUrl(running);

    const without = await ctl(['--admin', admin, 'state']);
    expect(without.code).toBe(1);
    expect(without.stderr).toMatch(/401/);
    expect(without.stderr).toContain('bearer token required');

    const wrong = await ctl(['--admin', admin, '--token', 'nope', 'set', 'web/web1', 'drain']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/403/);
    expect(server(running, 'web1').adminState).toBe('READY');

    expect((await ctl(['--admin', admin, '--token', 'ctl-secret', 'set', 'web/web1', 'drain'])).code).toBe(0);
    expect(server(running, 'web1').adminState).toBe('DRAIN');

    const byEnv = await ctl(['state'], { DOORMAN_ADMIN: admin, DOORMAN_TOKEN: 'ctl-secret' });
    expect(byEnv.code).toBe(0);
    expect(byEnv.stdout).toMatch(/^web\/web1\s.*\sDRAIN\s/m);
  });

  it('exits 1 with the API message for an unknown server, and when the API is unreachable', async () => {
    const running = await balancer();
    const admin = adminUrl(running);
    const unknown = await ctl(['--admin', admin, 'set', 'web/nope', 'drain']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('404');
    expect(unknown.stderr).toContain('no server web/nope');
    expect(unknown.stdout).toBe('');

    const weight = await ctl(['--admin', admin, 'weight', 'nope/web1', '2']);
    expect(weight.code).toBe(1);
    expect(weight.stderr).toContain('no server nope/web1');

    await running.close();
    const gone = await ctl(['--admin', admin, 'state']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('cannot reach the admin API');
  });

  it('exits 2 on bad usage, touching nothing', async () => {
    const running = await balancer();
    const admin = adminUrl(running);
    const mistakes: string[][] = [
      [],
      ['frobnicate'],
      ['set', 'web1', 'drain'],
      ['set', 'web/web1'],
      ['set', 'web/web1', 'off'],
      ['set', 'web/web1', 'constructor'],
      ['set', 'web/web1', 'drain', 'extra'],
      ['weight', 'web/web1', 'heavy'],
      ['weight', 'web/web1', '-1'],
      ['weight', 'web/web1', '300'],
      ['state', '--bogus'],
      ['set', 'web/web1', 'drain', '--json'],
    ];
    for (const args of mistakes) {
      const result = await ctl(['--admin', admin, ...args]);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stderr).toContain('usage: node dist/ctl.js');
    }
    expect((await ctl(['--admin', 'not a url', 'state'])).code).toBe(2);
    expect(server(running, 'web1').adminState).toBe('READY');
    expect(server(running, 'web1').weight).toBe(1);
  });
});
