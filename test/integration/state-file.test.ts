// The state file: operator state written on each change through the admin API,
// restored by the next balancer on the same config, a corrupt file moved aside
// (never trusted, never lost) and a missing folder created on the first write.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { admin, apiServer } from '../helpers/admin.js';
import { startBackend } from '../helpers/backend.js';
import { startLb, tempDir, writePair, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';

/** The state file's shape, as far as these tests read it. */
interface StateJson {
  servers: Record<string, unknown>;
}

const pki = testPki();
const certs = { web1: pki.selfSigned('web1'), web2: pki.selfSigned('web2') };
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const ERROR = 50;

/** A config with two servers and `stateFile`, its certificates written into `dir`. */
async function configIn(dir: string, stateFile: string): Promise<Record<string, unknown>> {
  const servers = [];
  for (const name of ['web1', 'web2'] as const) {
    const backend = await startBackend({ name, tls: certs[name] });
    cleanups.push(backend.close);
    servers.push({ name, address: backend.address, tls: { ca: writePair(dir, `ca-${name}`, certs[name]).cert, servername: name } });
  }
  return {
    admin: { bind: '127.0.0.1:0' },
    stateFile,
    frontends: [{ name: 'https', bind: '127.0.0.1:0', tls: { certs: [writePair(dir, 'front', pki.front)] }, backend: 'web' }],
    backends: [{ name: 'web', servers }],
  };
}

async function start(config: Record<string, unknown>, dir: string): Promise<RunningLb> {
  const running = await startLb(config, dir);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await running.close();
  };
  cleanups.push(close);
  return { ...running, close };
}

function put(running: RunningLb, server: string, what: 'state' | 'weight', body: unknown) {
  return admin(running, `/api/backends/web/servers/${server}/${what}`, { method: 'PUT', body });
}

describe('state file', () => {
  it('is written on each change and restored by the next balancer on the same config', async () => {
    const dir = tempDir();
    const config = await configIn(dir, 'var/state.json');
    const path = join(dir, 'var', 'state.json');
    const first = await start(config, dir);
    expect(existsSync(path)).toBe(false);

    expect((await put(first, 'web1', 'state', { state: 'DRAIN' })).status).toBe(200);
    expect((await put(first, 'web2', 'weight', { weight: 5 })).status).toBe(200);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      version: 1,
      servers: {
        'web/web1': { state: 'DRAIN', weight: 1 },
        'web/web2': { state: 'READY', weight: 5 },
      },
    });
    // Written atomically: no temp file left behind.
    expect(readdirSync(join(dir, 'var'))).toEqual(['state.json']);
    await first.close();

    const second = await start(config, dir);
    expect(await apiServer(second, 'web', 'web1')).toMatchObject({ state: 'DRAIN', adminState: 'DRAIN', weight: 1 });
    expect(await apiServer(second, 'web', 'web2')).toMatchObject({ state: 'UP', adminState: 'READY', weight: 5 });
    expect(second.lb.backends.get('web')!.server('web1')!.takesNewClients()).toBe(false);

    // And MAINT survives a restart too.
    expect((await put(second, 'web2', 'state', { state: 'MAINT' })).status).toBe(200);
    await second.close();
    const third = await start(config, dir);
    expect((await apiServer(third, 'web', 'web2')).state).toBe('MAINT');
    expect(second.logs.some((l) => l.level === ERROR)).toBe(false);
  });

  const corruptions: Array<[string, string]> = [
    ['not JSON', '{"version": 1, "servers": {'],
    ['an unknown state', JSON.stringify({ version: 1, servers: { 'web/web1': { state: 'BROKEN', weight: 1 } } })],
    ['a weight out of range', JSON.stringify({ version: 1, servers: { 'web/web1': { state: 'DRAIN', weight: 9000 } } })],
    ['another version', JSON.stringify({ version: 2, servers: {} })],
  ];
  for (const [what, bytes] of corruptions) {
    it(`with ${what}: logs an error, moves the file aside and starts with defaults`, async () => {
      const dir = tempDir();
      const config = await configIn(dir, 'state.json');
      writeFileSync(join(dir, 'state.json'), bytes);
      const running = await start(config, dir);

      const errors = running.logs.filter((l) => l.level === ERROR);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.stateFile).toBe(join(dir, 'state.json'));
      const aside = readdirSync(dir).filter((f) => f.startsWith('state.json.corrupt-'));
      expect(aside).toHaveLength(1);
      expect(readFileSync(join(dir, aside[0]!), 'utf8')).toBe(bytes);
      expect(existsSync(join(dir, 'state.json'))).toBe(false);
      expect(await apiServer(running, 'web', 'web1')).toMatchObject({ state: 'UP', adminState: 'READY', weight: 1 });

      // The next change writes a good file; the corrupt one stays aside.
      expect((await put(running, 'web1', 'state', { state: 'MAINT' })).status).toBe(200);
      expect((JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as StateJson).servers['web/web1']).toEqual({
        state: 'MAINT',
        weight: 1,
      });
      expect(readFileSync(join(dir, aside[0]!), 'utf8')).toBe(bytes);
    });
  }

  it('ignores servers it no longer knows and restores the others', async () => {
    const dir = tempDir();
    const config = await configIn(dir, 'state.json');
    writeFileSync(
      join(dir, 'state.json'),
      JSON.stringify({ version: 1, servers: { 'web/gone': { state: 'MAINT', weight: 3 }, 'web/web2': { state: 'DRAIN', weight: 2 } } }),
    );
    const running = await start(config, dir);
    expect(running.logs.some((l) => l.level === ERROR)).toBe(false);
    expect(await apiServer(running, 'web', 'web2')).toMatchObject({ state: 'DRAIN', weight: 2 });
    expect(await apiServer(running, 'web', 'web1')).toMatchObject({ state: 'UP', weight: 1 });
  });

  it('creates a missing folder on the first write', async () => {
    const dir = tempDir();
    const config = await configIn(dir, 'run/doorman/nested/state.json');
    const running = await start(config, dir);
    expect(existsSync(join(dir, 'run'))).toBe(false);
    expect((await put(running, 'web2', 'state', { state: 'DRAIN' })).status).toBe(200);
    const written = JSON.parse(readFileSync(join(dir, 'run/doorman/nested/state.json'), 'utf8')) as StateJson;
    expect(written.servers['web/web2']).toEqual({ state: 'DRAIN', weight: 1 });
    expect(running.logs.some((l) => l.level === ERROR)).toBe(false);
  });
});
