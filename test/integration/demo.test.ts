// The developer tools: `npm run certs` (makeCerts) and `npm start` (startDemo), run in
// temp folders with every listener on port 0. Certificates are checked with Node's
// X509Certificate and TLS, never with node-forge that made them.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { startDemo, type Demo } from '../../src/dev/demo.js';
import { formatCertsReport, makeCerts, pairFiles, type PairName } from '../../src/dev/make-certs.js';
import { createLogger } from '../../src/log.js';
import { spkiPin } from '../../src/tls/pin.js';
import { request } from '../helpers/client.js';
import { tempDir } from '../helpers/lb.js';
import { waitFor } from '../helpers/wait.js';

const execFileAsync = promisify(execFile);

const PAIRS: readonly PairName[] = ['ca', 'lb', 'web1', 'web2'];

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function scratch(): string {
  const dir = tempDir('doorman-demo-');
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function x509(file: string): X509Certificate {
  return new X509Certificate(readFileSync(file));
}

// A TLS handshake against `cert`/`key`, the client trusting only `ca` and checking `servername`.
async function handshake(ca: string, pair: { cert: string; key: string }, servername: string): Promise<void> {
  const server = tls.createServer({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) }, (s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  try {
    await new Promise<void>((resolve, reject) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ca: readFileSync(ca), servername }, () => {
        socket.end();
        resolve();
      });
      socket.on('error', reject);
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe('makeCerts', () => {
  it('writes a CA, a front certificate it signed for localhost, 127.0.0.1 and ::1, and self-signed server certificates', async () => {
    const dir = join(scratch(), 'certs'); // a folder that does not exist yet
    const result = await makeCerts({ dir });

    for (const name of PAIRS) {
      const files = pairFiles(dir, name);
      expect(result.pairs[name]).toMatchObject({ ...files, action: 'created' });
      expect(x509(files.cert).checkPrivateKey(createPrivateKey(readFileSync(files.key)))).toBe(true);
      expect(statSync(files.key).mode & 0o077).toBe(0); // keys readable by their owner only
    }

    const ca = x509(pairFiles(dir, 'ca').cert);
    expect(ca.ca).toBe(true);
    const front = x509(pairFiles(dir, 'lb').cert);
    expect(front.ca).toBe(false);
    expect(front.checkIssued(ca)).toBe(true);
    expect(front.verify(ca.publicKey)).toBe(true);
    expect(front.checkHost('localhost')).toBe('localhost');
    expect(front.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(front.checkIP('::1')).toBe('::1');
    expect(front.checkHost('example.com')).toBeUndefined();
    await handshake(pairFiles(dir, 'ca').cert, pairFiles(dir, 'lb'), 'localhost');

    for (const name of ['web1', 'web2'] as const) {
      const files = pairFiles(dir, name);
      const cert = x509(files.cert);
      expect(cert.verify(cert.publicKey)).toBe(true); // self-signed
      expect(cert.verify(ca.publicKey)).toBe(false);
      expect(cert.checkHost(name)).toBe(name);
      expect(cert.checkHost('localhost')).toBe('localhost');
      expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
      await handshake(files.cert, files, name); // its own certificate is its trust anchor
    }
    expect(x509(pairFiles(dir, 'web1').cert).fingerprint256).not.toBe(x509(pairFiles(dir, 'web2').cert).fingerprint256);
    expect(formatCertsReport(result)).toMatch(/created +lb\.crt lb\.key/);
  });

  it('keeps existing files on a second run, and replaces them with force', async () => {
    const dir = scratch();
    await makeCerts({ dir });
    const read = (): Record<string, string> =>
      Object.fromEntries(PAIRS.flatMap((n) => Object.values<string>(pairFiles(dir, n)).map((f) => [f, readFileSync(f, 'utf8')])));
    const first = read();

    const again = await makeCerts({ dir });
    expect(PAIRS.map((n) => again.pairs[n].action)).toEqual(['kept', 'kept', 'kept', 'kept']);
    expect(read()).toEqual(first);

    const forced = await makeCerts({ dir, force: true });
    expect(PAIRS.map((n) => forced.pairs[n].action)).toEqual(['replaced', 'replaced', 'replaced', 'replaced']);
    const after = read();
    for (const file of Object.keys(first)) expect(after[file]).not.toBe(first[file]);
    expect(x509(pairFiles(dir, 'lb').cert).verify(x509(pairFiles(dir, 'ca').cert).publicKey)).toBe(true);
  });

  it('completes a half-written set, and reissues the front certificate for a new CA', async () => {
    const dir = scratch();
    await makeCerts({ dir });
    const web1 = readFileSync(pairFiles(dir, 'web1').cert, 'utf8');
    rmSync(pairFiles(dir, 'ca').key);

    const result = await makeCerts({ dir });
    expect(result.pairs.ca).toMatchObject({ action: 'replaced', reason: 'ca.key is missing' });
    expect(result.pairs.lb).toMatchObject({ action: 'replaced', reason: 'its CA is new' });
    expect(result.pairs.web1.action).toBe('kept');
    expect(readFileSync(pairFiles(dir, 'web1').cert, 'utf8')).toBe(web1);
    await handshake(pairFiles(dir, 'ca').cert, pairFiles(dir, 'lb'), 'localhost');
  });
});

describe('startDemo', () => {
  async function start(): Promise<{ demo: Demo; certDir: string; varDir: string; logs: Record<string, unknown>[] }> {
    const root = scratch();
    const certDir = join(root, 'certs');
    const varDir = join(root, 'var');
    const logs: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const demo = await startDemo({ certDir, varDir, ports: 0, log: createLogger({ level: 'info' }, sink) });
    cleanups.push(() => demo.shutdown()); // idempotent: a test may have shut it down already
    return { demo, certDir, varDir, logs };
  }

  it('starts on port 0 everywhere, writes a valid config with the computed pins, and serves through the https frontend', async () => {
    const { demo, certDir, varDir, logs } = await start();
    const ca = readFileSync(join(certDir, 'ca.crt'), 'utf8');
    expect(demo.certs.pairs.lb.action).toBe('created');
    expect(demo.configFile).toBe(join(varDir, 'demo.yaml'));

    const config = await loadConfig(demo.configFile);
    const web = config.backends[0]!;
    expect(web).toMatchObject({ name: 'web', balance: 'leastconn', cookie: { name: 'WEBSERVERID', indirect: true } });
    for (const server of web.servers) {
      const certFile = join(certDir, `${server.name}.crt`);
      expect(server.tls).toEqual({ ca: certFile, servername: server.name, pins: [spkiPin(readFileSync(certFile))], cert: null, key: null });
      expect(server.address.port).toBe(demo.serverPorts[server.name as 'web1' | 'web2']);
    }
    expect(config.frontends.map((f) => f.bind)).toEqual([
      { host: '127.0.0.1', port: 0 },
      { host: '127.0.0.1', port: 0 },
    ]);
    expect(logs.filter((l) => l.msg === 'listening').map((l) => l.frontend)).toEqual(['https', 'http']);

    const port = demo.lb.port('https');
    expect(port).not.toBe(0);
    const first = await request({ port, ca, servername: 'localhost' });
    expect(first.status).toBe(200);
    const answered = first.headers['x-demo-server'];
    expect(['web1', 'web2']).toContain(answered);
    expect(first.body).toContain(`Hello from ${String(answered)}`);
    expect(first.body).toContain('X-Forwarded-For: 127.0.0.1');
    expect(first.body).toContain('WEBSERVERID cookie arrived: no');
    const setCookie = first.headers['set-cookie'] ?? [];
    expect(setCookie).toHaveLength(1);
    expect(setCookie[0]).toMatch(/^WEBSERVERID=[^;]+; Path=\/; HttpOnly; Secure/);

    // The cookie keeps the client on its server, and is stripped before the server sees it.
    const cookie = setCookie[0]!.split(';')[0]!;
    for (let i = 0; i < 3; i += 1) {
      const next = await request({ port, ca, headers: { cookie } });
      expect(next.status).toBe(200);
      expect(next.headers['x-demo-server']).toBe(answered);
      expect(next.headers['set-cookie']).toBeUndefined();
      expect(next.body).toContain('WEBSERVERID cookie arrived: no');
    }

    const redirect = await request({ port: demo.lb.port('http'), path: '/page?q=1', headers: { host: 'localhost' } });
    expect(redirect.status).toBe(308);
    expect(redirect.headers.location).toBe(`https://localhost:${port}/page?q=1`);
    expect(demo.tryLines[0]).toContain(`https://localhost:${port}/`);
  });

  it('speaks HTTP/2 to curl --http2 on the https frontend', async () => {
    const { demo, certDir } = await start();
    const port = demo.lb.port('https');
    // Asynchronous: the demo answers from this very process.
    const curl = await execFileAsync(
      'curl',
      [
        '--http2',
        '--silent',
        '--show-error',
        '--cacert',
        join(certDir, 'ca.crt'),
        '--write-out',
        '%{http_version} %{http_code}',
        '--output',
        '/dev/null',
        `https://localhost:${port}/`,
      ],
      {
        encoding: 'utf8',
        timeout: 20_000,
      },
    );
    expect(curl.stderr).toBe('');
    expect(curl.stdout).toBe('2 200');
  });

  it('shuts down cleanly: every listener closed', async () => {
    const { demo } = await start();
    const ports = [demo.lb.port('https'), demo.lb.port('http'), demo.serverPorts.web1, demo.serverPorts.web2];
    const ca = readFileSync(join(demo.certs.dir, 'ca.crt'), 'utf8');
    expect((await request({ port: demo.lb.port('https'), ca })).status).toBe(200);

    await demo.shutdown();
    const refused = (port: number) =>
      new Promise<boolean>((resolve) => {
        const socket = connect({ host: '127.0.0.1', port });
        socket.on('connect', () => {
          socket.destroy();
          resolve(false);
        });
        socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
      });
    await waitFor(async () => (await Promise.all(ports.map(refused))).every(Boolean), 5_000, 'every port to refuse');
  });

  it('reuses the certificates of an earlier start', async () => {
    const root = scratch();
    const certDir = join(root, 'certs');
    await makeCerts({ dir: certDir });
    const front = readFileSync(join(certDir, 'lb.crt'), 'utf8');
    const demo = await startDemo({ certDir, varDir: join(root, 'var'), ports: 0, log: createLogger({ level: 'silent' }) });
    cleanups.push(() => demo.shutdown());
    expect(Object.values(demo.certs.pairs).map((p) => p.action)).toEqual(['kept', 'kept', 'kept', 'kept']);
    expect(readFileSync(join(certDir, 'lb.crt'), 'utf8')).toBe(front);
  });
});
