// `log.format: haproxy`: real traffic, and every access line parsed with the regex of
// HAProxy's documented httplog format, its fields checked against what was sent.
import { writeFileSync } from 'node:fs';
import https from 'node:https';
import type http from 'node:http';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { startCli } from '../helpers/cli.js';
import { request } from '../helpers/client.js';
import { parseHttplog } from '../helpers/httplog.js';
import { startProxy, tempDir, writePair, type ProxyOptions, type ProxyServer, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';
import { closedAddress } from '../helpers/ports.js';

const pki = testPki();
const certs = { web1: pki.selfSigned('web1'), web2: pki.selfSigned('web2') };
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function backend(name: 'web1' | 'web2'): Promise<TestBackend> {
  const b = await startBackend({ name, tls: certs[name] });
  cleanups.push(b.close);
  return b;
}

function served(b: TestBackend): ProxyServer {
  return { name: b.name, address: b.address, trust: certs[b.name as 'web1' | 'web2'] };
}

async function proxy(servers: readonly ProxyServer[], options: ProxyOptions = {}): Promise<RunningLb> {
  const running = await startProxy(pki.front, servers, { ...options, top: { log: { format: 'haproxy' }, ...options.top } });
  cleanups.push(() => running.close());
  return running;
}

/** One HTTPS request on its own connection; also tells the client port it came from. */
function get(port: number, path: string, headers: http.OutgoingHttpHeaders = {}) {
  return new Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders; clientPort: number }>((resolve, reject) => {
    let clientPort = 0;
    const req = https.request({ host: '127.0.0.1', port, path, headers, ca: pki.ca.cert, servername: 'localhost', agent: false });
    req.on('socket', (socket) => socket.once('secureConnect', () => (clientPort = socket.localPort ?? 0)));
    req.on('response', (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers, clientPort }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The httplog lines written so far, parsed; fails on a line that does not parse. */
function httplogLines(running: RunningLb): Array<Record<string, string>> {
  return running.logs
    .filter((l) => typeof l.raw === 'string')
    .map((l) => {
      const fields = parseHttplog(l.raw as string);
      if (!fields) throw new Error(`not an httplog line: ${String(l.raw)}`);
      return fields;
    });
}

/** The date of an httplog line (local time) as epoch ms. */
function acceptDate(text: string): number {
  const m = /^(\d{2})\/(\w{3})\/(\d{4}):(\d{2}):(\d{2}):(\d{2})\.(\d{3})$/.exec(text)!;
  const month = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'].indexOf(m[2]!);
  return new Date(Number(m[3]), month, Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]), Number(m[7])).getTime();
}

describe('log.format: haproxy', () => {
  it('writes one httplog line per request instead of the JSON access line: client, date, route, timers, bytes, cookie flags, request line', async () => {
    const web1 = await backend('web1');
    const running = await proxy([served(web1)], { backend: { cookie: { name: 'WEBSERVERID' } } });
    const before = Date.now();

    const first = await get(running.port(), '/first?x=1');
    expect(first.status).toBe(200);
    const cookie = String(first.headers['set-cookie']).split(';')[0]!;
    const second = await get(running.port(), '/second', { cookie });
    expect(second.status).toBe(200);
    web1.setHandler((_req, res) => {
      res.writeHead(404);
      res.end('nope');
    });
    const third = await get(running.port(), '/missing', { cookie });
    expect(third.status).toBe(404);

    await waitFor(() => httplogLines(running).length >= 3, 5_000, '3 httplog lines');
    const [a, b, c] = httplogLines(running);
    expect(a).toMatchObject({
      clientIp: '127.0.0.1',
      clientPort: String(first.clientPort),
      frontend: 'https',
      tls: '~',
      backend: 'web',
      server: 'web1',
      TR: '0',
      Tw: '0',
      status: '200',
      bytes: String(Buffer.byteLength(first.body)),
      capturedRequestCookie: '-',
      capturedResponseCookie: '-',
      termination: '--NI',
      retries: '0',
      srvQueue: '0',
      backendQueue: '0',
      method: 'GET',
      uri: '/first?x=1',
      version: 'HTTP/1.1',
    });
    expect(Number(a!.Tc)).toBeGreaterThanOrEqual(0);
    expect(Number(a!.Tr)).toBeGreaterThanOrEqual(0);
    expect(Number(a!.Ta)).toBeGreaterThanOrEqual(Number(a!.Tr));
    // The request started between `before` and now (the date has millisecond precision).
    expect(acceptDate(a!.acceptDate!)).toBeGreaterThanOrEqual(before - 1);
    expect(acceptDate(a!.acceptDate!)).toBeLessThanOrEqual(Date.now());
    // Its own connection was open while it was logged.
    expect(Number(a!.actconn)).toBeGreaterThanOrEqual(1);
    expect(Number(a!.feconn)).toBeGreaterThanOrEqual(1);

    expect(b).toMatchObject({ clientPort: String(second.clientPort), server: 'web1', status: '200', termination: '--VN', uri: '/second' });
    expect(c).toMatchObject({ status: '404', bytes: '4', termination: '--VN', uri: '/missing' });
    expect(running.logs.some((l) => l.msg === 'access')).toBe(false);
  });

  it('logs retries with the redispatch mark and a refused connection as SC', async () => {
    const web1 = await backend('web1');
    const dead = await closedAddress();
    const running = await proxy([{ name: 'web0', address: dead, trust: certs.web1 }, served(web1)], {
      backend: { balance: 'roundrobin', retries: 2, redispatch: true },
    });
    for (let i = 0; i < 4; i += 1) expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(200);
    await waitFor(() => httplogLines(running).length >= 4, 5_000, '4 httplog lines');
    const lines = httplogLines(running);
    // Round robin sends some first attempts to the dead server: those end on web1, redispatched.
    const moved = lines.filter((l) => l.retries!.startsWith('+'));
    expect(moved.length).toBeGreaterThanOrEqual(1);
    for (const line of lines) expect(line).toMatchObject({ server: 'web1', status: '200', termination: '----' });
    expect(moved[0]!.retries).toBe('+1');

    const alone = await proxy([{ name: 'web0', address: dead, trust: certs.web1 }], { backend: { retries: 0 } });
    expect((await request({ port: alone.port(), ca: pki.ca.cert })).status).toBe(502);
    await waitFor(() => httplogLines(alone).length >= 1, 5_000, '1 httplog line');
    const [refused] = httplogLines(alone);
    expect(refused).toMatchObject({ server: 'web0', Tc: '-1', Tr: '-1', status: '502', termination: 'SC--', retries: '0' });
  });

  it('logs a queue timeout as sQ with the time waited and the queue position', async () => {
    const web1 = await backend('web1');
    let release: (() => void) | undefined;
    web1.setHandler((_req, res) => {
      release = () => {
        res.writeHead(200);
        res.end('late\n');
      };
    });
    const running = await proxy([{ ...served(web1), extra: { maxconn: 1 } }], { top: { timeouts: { queue: '200ms' } } });
    const slow = request({ port: running.port(), ca: pki.ca.cert, path: '/slow' });
    await waitFor(() => release !== undefined, 5_000, 'first request at the server');
    expect((await request({ port: running.port(), ca: pki.ca.cert, path: '/queued' })).status).toBe(503);
    release!();
    expect((await slow).status).toBe(200);

    await waitFor(() => httplogLines(running).length >= 2, 5_000, '2 httplog lines');
    const lines = httplogLines(running);
    const queued = lines.find((l) => l.uri === '/queued')!;
    expect(queued).toMatchObject({
      server: '<NOSRV>',
      Tc: '-1',
      Tr: '-1',
      status: '503',
      termination: 'sQ--',
      srvQueue: '0',
      backendQueue: '0',
    });
    expect(Number(queued.Tw)).toBeGreaterThanOrEqual(190);
    // The slow request was in flight on web1 when the queued one was logged.
    expect(queued.beconn).toBe('1');
  });

  it('the CLI writes raw httplog lines on stdout between its JSON lines, with no warning', async () => {
    const web1 = await backend('web1');
    const dir = tempDir('doorman-httplog-');
    const front = writePair(dir, 'front', pki.front);
    const ca = writePair(dir, 'web1', certs.web1);
    writeFileSync(
      join(dir, 'lb.yaml'),
      stringify({
        admin: null,
        log: { format: 'haproxy' },
        frontends: [{ name: 'https', bind: '127.0.0.1:0', tls: { certs: [front] }, backend: 'web' }],
        backends: [{ name: 'web', servers: [{ name: 'web1', address: web1.address, tls: { ca: ca.cert, servername: 'web1' } }] }],
      }),
    );
    const cli = startCli(['-c', 'lb.yaml'], dir);
    cleanups.push(() => cli.kill());
    const listening = await cli.waitForLine((l) => l.msg === 'listening', 10_000, 'listening');
    expect((await request({ port: listening.port as number, ca: pki.ca.cert, path: '/cli' })).status).toBe(200);
    const line = await cli.waitForLine((l) => typeof l.raw === 'string', 10_000, 'an httplog line');
    expect(parseHttplog(line.raw as string)).toMatchObject({ frontend: 'https', tls: '~', server: 'web1', status: '200', uri: '/cli' });
    expect(cli.lines.some((l) => l.level === 40)).toBe(false);
  });
});
