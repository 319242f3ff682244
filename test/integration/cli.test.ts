// The command line as a user runs it: `node dist/lb.js` with --check, bad flags,
// one `listening` line per frontend, graceful SIGTERM and the second-signal exit.
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { runCli, startCli, type RunningCli } from '../helpers/cli.js';
import { request } from '../helpers/client.js';
import { tempDir, writePair } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();
const webCert = pki.selfSigned('web1');
const otherCert = pki.issue('other.test');
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** Writes `config` as lb.yaml into a fresh folder with the front and web1 certificates; returns the folder. */
function writeConfig(config: Record<string, unknown>, dir = tempDir('doorman-cli-')): string {
  writeFileSync(join(dir, 'lb.yaml'), stringify(config));
  return dir;
}

/** A complete, valid config: an https and an http frontend in front of one TLS server. */
function validConfig(dir: string, serverAddress: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const front = writePair(dir, 'front', pki.front);
  const web1 = writePair(dir, 'web1', webCert);
  return {
    admin: null,
    log: { level: 'info' },
    frontends: [
      { name: 'https', bind: '127.0.0.1:0', tls: { certs: [front] }, backend: 'web' },
      { name: 'http', bind: '127.0.0.1:0', backend: 'web' },
    ],
    backends: [{ name: 'web', servers: [{ name: 'web1', address: serverAddress, tls: { ca: web1.cert, servername: 'web1' } }] }],
    ...extra,
  };
}

/** A TCP port this test holds open, so nobody else (the CLI included) can bind it. */
async function heldPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

async function backendServer(): Promise<TestBackend> {
  const backend = await startBackend({ name: 'web1', tls: webCert });
  cleanups.push(backend.close);
  return backend;
}

function problemLines(stderr: string): string[] {
  return stderr.split('\n').filter((line) => line.trim() !== '');
}

/** Resolves with the error code of a TCP connection attempt, or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

describe('--check', () => {
  it('prints "config OK" and exits 0 for a valid config with real certificate files, binding nothing', async () => {
    // The frontend and admin ports are held by this test: binding them would fail the run.
    const [frontPort, adminPort] = [await heldPort(), await heldPort()];
    const dir = tempDir('doorman-cli-');
    const config = validConfig(dir, '127.0.0.1:9443', {
      admin: { bind: `127.0.0.1:${adminPort}` },
      frontends: [{ name: 'https', bind: `127.0.0.1:${frontPort}`, tls: { certs: [writePair(dir, 'front', pki.front)] }, backend: 'web' }],
    });
    writeConfig(config, dir);
    const result = await runCli(['--check', '--config', 'lb.yaml'], dir);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('config OK\n');
    expect(result.code).toBe(0);
    expect(result.elapsedMs).toBeLessThan(5000);
  });

  it('reads lb.yaml from the working folder by default, and takes -c', async () => {
    const dir = tempDir('doorman-cli-');
    const config = validConfig(dir, '127.0.0.1:9443') as { backends: Array<Record<string, unknown>> };
    config.backends[0]!.slowStart = '30s';
    writeConfig(config, dir);
    const byDefault = await runCli(['--check'], dir);
    expect([byDefault.code, byDefault.stdout]).toEqual([0, 'config OK\n']);
    writeFileSync(join(dir, 'other.yaml'), stringify(validConfig(dir, '127.0.0.1:9443')));
    const short = await runCli(['--check', '-c', join(dir, 'other.yaml')], tempDir('doorman-cli-'));
    expect([short.code, short.stdout]).toEqual([0, 'config OK\n']);
  });

  it('prints every problem as "path: message" and exits 1', async () => {
    const dir = tempDir('doorman-cli-');
    writeConfig(
      {
        ...validConfig(dir, '127.0.0.1:9443'),
        colour: 'blue',
        timeouts: { client: 'banana' },
        frontends: [{ name: 'https', bind: 'nowhere', backend: 'nope' }],
        backends: [{ name: 'web', balance: 'random', slowStart: 'soon', servers: [{ name: 'web1' }] }],
      },
      dir,
    );
    const result = await runCli(['--check', '-c', 'lb.yaml'], dir);
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain('config OK');
    const lines = problemLines(result.stderr);
    for (const line of lines) expect(line).toMatch(/^[\w.]+: \S/);
    const paths = lines.map((line) => line.slice(0, line.indexOf(': ')));
    for (const path of [
      'colour',
      'timeouts.client',
      'frontends.0.bind',
      'frontends.0.backend',
      'backends.0.balance',
      'backends.0.slowStart',
      'backends.0.servers.0.address',
    ]) {
      expect(paths).toContain(path);
    }
    expect(lines.find((l) => l.startsWith('colour: '))).toBe('colour: unknown key');
  });

  it('exits 1 naming the key whose certificate it does not match', async () => {
    const dir = tempDir('doorman-cli-');
    const config = validConfig(dir, '127.0.0.1:9443');
    writeFileSync(join(dir, 'front.key'), otherCert.key); // front.crt stays: a key for another certificate
    writeConfig(config, dir);
    const result = await runCli(['--check', '-c', 'lb.yaml'], dir);
    expect(result.code).toBe(1);
    const lines = problemLines(result.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^frontends\.0\.tls\.certs\.0\.key: /);
  });

  it('exits 1 naming a certificate file that cannot be read', async () => {
    const dir = tempDir('doorman-cli-');
    const config = validConfig(dir, '127.0.0.1:9443');
    const backends = config.backends as Array<{ servers: Array<{ tls: { ca: string } }> }>;
    backends[0]!.servers[0]!.tls.ca = 'missing.crt';
    writeConfig(config, dir);
    const result = await runCli(['--check', '-c', 'lb.yaml'], dir);
    expect(result.code).toBe(1);
    expect(problemLines(result.stderr)).toEqual([expect.stringMatching(/^backends\.0\.servers\.0\.tls\.ca: .*missing\.crt/)]);
  });

  it('accepts --workers 2 and --workers auto', async () => {
    const dir = tempDir('doorman-cli-');
    writeConfig(validConfig(dir, '127.0.0.1:9443'), dir);
    for (const workers of ['2', 'auto']) {
      const result = await runCli(['--check', '--workers', workers], dir);
      expect([result.code, result.stdout, result.stderr]).toEqual([0, 'config OK\n', '']);
    }
  });

  it('exits 2 on a bad flag or a bad --workers value', async () => {
    const dir = tempDir('doorman-cli-');
    writeConfig(validConfig(dir, '127.0.0.1:9443'), dir);
    for (const args of [['--bogus'], ['--check', '--workers', '0'], ['--check', '--workers', 'many'], ['--check', 'extra-argument']]) {
      const result = await runCli(args, dir);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stdout).toBe('');
      expect(result.stderr).not.toBe('');
    }
  });
});

describe('running', () => {
  async function start(
    extra: Record<string, unknown> = {},
  ): Promise<{ cli: RunningCli; backend: TestBackend; https: number; http: number }> {
    const backend = await backendServer();
    const dir = tempDir('doorman-cli-');
    writeConfig(validConfig(dir, backend.address, extra), dir);
    const cli = startCli(['-c', 'lb.yaml'], dir);
    cleanups.push(() => cli.kill());
    const isListening = (name: string) => (l: Record<string, unknown>) => l.msg === 'listening' && l.frontend === name;
    const https = await cli.waitForLine(isListening('https'), 10_000, 'https listening');
    const http = await cli.waitForLine(isListening('http'), 10_000, 'http listening');
    expect(cli.lines.filter((l) => l.msg === 'listening')).toHaveLength(2);
    expect(typeof https.port).toBe('number');
    expect(https.port).toBeGreaterThan(0);
    return { cli, backend, https: https.port as number, http: http.port as number };
  }

  it('logs one JSON listening line per frontend and serves requests on each', async () => {
    const { backend, https, http } = await start();
    const secure = await request({ port: https, ca: pki.ca.cert, path: '/a' });
    expect(secure.status).toBe(200);
    expect(secure.body).toBe('backend=web1 path=/a\n');
    const plain = await request({ port: http, path: '/b' });
    expect(plain.status).toBe(200);
    expect(backend.requests.map((r) => r.url)).toEqual(['/a', '/b']);
  });

  it('exits 1 with a fatal log line when a frontend cannot bind', async () => {
    const taken = await heldPort();
    const backend = await backendServer();
    const dir = tempDir('doorman-cli-');
    const config = validConfig(dir, backend.address);
    (config.frontends as Array<{ bind: string }>)[1]!.bind = `127.0.0.1:${taken}`;
    writeConfig(config, dir);
    const result = await runCli(['-c', 'lb.yaml'], dir);
    expect(result.code).toBe(1);
    const lines = result.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.some((l) => l.msg === 'cannot start' && l.level === 60)).toBe(true);
  });

  it('on SIGTERM finishes the request in flight, refuses new connections and exits 0', async () => {
    const { cli, backend, https, http } = await start({ timeouts: { shutdown: '10s' } });
    expect((await request({ port: https, ca: pki.ca.cert })).status).toBe(200);
    backend.setHandler((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('slow but done\n');
      }, 500);
    });
    let slowDone = false;
    const slow = request({ port: https, ca: pki.ca.cert, path: '/slow' }).finally(() => (slowDone = true));
    slow.catch(() => {}); // awaited below; a failed assertion first must not leave it unhandled
    await waitFor(() => backend.requests.length === 2, 5000, 'slow request at the backend');
    const signalledAt = Date.now();
    cli.child.kill('SIGTERM');
    await cli.waitForLine((l) => l.msg === 'shutting down', 5000, 'shutting down');
    // The line is written just before the listeners close: poll briefly rather than race it.
    await waitFor(async () => (await tryConnect(https)) === 'ECONNREFUSED', 400, 'https port refusing');
    expect(await tryConnect(http)).toBe('ECONNREFUSED');
    expect(slowDone).toBe(false); // refused while the process was still draining
    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('slow but done\n');
    const exit = await cli.exited;
    expect({ code: exit.code, signal: exit.signal }).toEqual({ code: 0, signal: null });
    // It waited for the request, and not much longer.
    expect(Date.now() - signalledAt).toBeLessThan(5000);
  });

  it('exits at once on a second signal during the drain', async () => {
    for (const second of ['SIGINT', 'SIGTERM'] as const) {
      const { cli, backend, https } = await start({ timeouts: { shutdown: '30s' } });
      backend.setHandler(() => {}); // never answers
      const stuck = request({ port: https, ca: pki.ca.cert, path: '/stuck' }).then(
        (reply) => `answered ${reply.status}`,
        (err: unknown) => `failed: ${String(err)}`,
      );
      await waitFor(() => backend.requests.length === 1, 5000, 'request at the backend');
      cli.child.kill('SIGTERM');
      await cli.waitForLine((l) => l.msg === 'shutting down', 5000, 'shutting down');
      const secondAt = Date.now();
      cli.child.kill(second);
      const exit = await cli.exited;
      expect(Date.now() - secondAt).toBeLessThan(2000);
      // The process handled the signal itself (an exit code, not death by signal).
      expect(exit.signal).toBeNull();
      expect(exit.code).not.toBeNull();
      expect(await stuck).toMatch(/^failed: /);
    }
  });
});
