// ACME against a real ACME server: Pebble issues certificates for shop.test after
// validating Doorman's frontends (http-01 on the plain port, tls-alpn-01 on the TLS
// port); the issued chain is then checked by a real TLS client that trusts only
// Pebble's root and asks for the name by SNI.
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend } from '../helpers/backend.js';
import { startLb, tempDir, type RunningLb } from '../helpers/lb.js';
import { preparePebble, type Pebble } from '../helpers/pebble.js';
import { freePort } from '../helpers/ports.js';
import { testPki } from '../helpers/pki.js';
import { waitFor, waitForValue } from '../helpers/wait.js';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { metric, parseMetrics } from '../helpers/admin.js';
import { parseConfig } from '../../src/config/load.js';

const pki = testPki();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

interface Setup {
  readonly dir: string;
  readonly httpPort: number;
  readonly tlsPort: number;
  readonly pebble: Pebble;
  readonly backend: string;
}

async function setup(
  options: { blocked?: string[]; validitySeconds?: number; startPebble?: boolean; eab?: Record<string, string> } = {},
): Promise<Setup> {
  const dir = tempDir('doorman-acme-');
  const [httpPort, tlsPort] = [await freePort(), await freePort()];
  writeFileSync(join(dir, 'pebble-ca.crt'), pki.ca.cert);
  const pebble = await preparePebble({ dir, httpPort, tlsPort, listener: pki.front, listenerCa: pki.ca.cert, ...options });
  cleanups.push(() => pebble.stop());
  if (options.startPebble !== false) await pebble.start();
  const web = await startBackend({ name: 'web1' });
  cleanups.push(() => web.close());
  return { dir, httpPort, tlsPort, pebble, backend: web.address };
}

function config(
  s: Setup,
  challenge: 'http-01' | 'tls-alpn-01',
  extra: { acme?: Record<string, unknown>; domains?: string[] } = {},
): Record<string, unknown> {
  return {
    acme: {
      directory: s.pebble.directory,
      email: 'ops@shop.test',
      storage: 'acme',
      ca: 'pebble-ca.crt',
      backoff: { min: '200ms', max: '1s' },
      ...extra.acme,
    },
    frontends: [
      {
        name: 'https',
        bind: `127.0.0.1:${s.tlsPort}`,
        tls: { acme: { domains: extra.domains ?? ['shop.test', 'www.shop.test'], challenge } },
        backend: 'web',
      },
      // The challenge is answered before this redirect.
      { name: 'http', bind: `127.0.0.1:${s.httpPort}`, redirect: 'https' },
    ],
    backends: [{ name: 'web', servers: [{ name: 'web1', address: s.backend }] }],
  };
}

async function start(s: Setup, cfg: Record<string, unknown>): Promise<RunningLb> {
  const lb = await startLb(cfg, s.dir);
  cleanups.push(() => lb.close());
  return lb;
}

/** The certificate the https frontend serves for `servername`, the handshake verified against `ca` when given. */
function servedCertificate(port: number, servername: string, ca?: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: '127.0.0.1', port, servername, ALPNProtocols: ['http/1.1'], ...(ca ? { ca } : { rejectUnauthorized: false }) },
      () => {
        const peer = socket.getPeerX509Certificate();
        socket.end();
        if (peer) resolve(peer);
        else reject(new Error('no peer certificate'));
      },
    );
    socket.once('error', reject);
  });
}

function acmeCert(lb: RunningLb) {
  return lb.lb.certificates().find((c) => c.source === 'acme');
}

async function renewals(lb: RunningLb, result: 'success' | 'failure'): Promise<number> {
  return metric(parseMetrics(await lb.lb.metrics.registry.metrics()), 'lb_acme_renewals_total', { result }) ?? 0;
}

const issued = (lb: RunningLb) => lb.logs.filter((l) => l.msg === 'acme certificate issued');

describe('ACME with Pebble', () => {
  for (const challenge of ['http-01', 'tls-alpn-01'] as const) {
    it(`issues a certificate by ${challenge} and serves it to new connections without a restart`, async () => {
      const s = await setup();
      const lb = await start(s, config(s, challenge));
      // Meanwhile: the stand-in certificate.
      const before = await servedCertificate(s.tlsPort, 'shop.test');
      expect(before.issuer).toContain('Doorman placeholder');
      await waitFor(() => typeof acmeCert(lb)?.notAfter === 'string', 15_000, 'the issued certificate');
      const root = await s.pebble.root();
      for (const name of ['shop.test', 'www.shop.test']) {
        const served = await servedCertificate(s.tlsPort, name, root);
        expect(served.subjectAltName).toContain(`DNS:${name}`);
        expect(served.issuer).toContain('Pebble Intermediate CA');
      }
      expect(lb.logs.filter((l) => l.msg === 'acme certificate issued')).toHaveLength(1);
      expect(acmeCert(lb)).toMatchObject({ frontend: 'https', names: ['shop.test', 'www.shop.test'], source: 'acme' });
    });
  }

  it('renews when renewBefore is longer than the lifetime: new certificate for new connections, counted', async () => {
    const s = await setup({ validitySeconds: 3600 });
    const lb = await start(s, config(s, 'http-01', { acme: { renewBefore: '2h' } }));
    await waitFor(() => issued(lb).length >= 1, 15_000, 'the first certificate');
    const root = await s.pebble.root();
    const first = await servedCertificate(s.tlsPort, 'shop.test', root);
    await waitFor(() => issued(lb).length >= 2, 15_000, 'a renewal');
    const renewed = await servedCertificate(s.tlsPort, 'shop.test', root);
    expect(renewed.serialNumber).not.toBe(first.serialNumber);
    expect(issued(lb)[1]).toMatchObject({ renewal: true, domains: ['shop.test', 'www.shop.test'] });
    expect(await renewals(lb, 'success')).toBeGreaterThanOrEqual(2);
    expect(await renewals(lb, 'failure')).toBe(0);
  });

  it('keeps serving the stand-in while the CA is down, retries with backoff, and uses the certificate once the CA is back', async () => {
    const s = await setup({ startPebble: false });
    const lb = await start(s, config(s, 'tls-alpn-01'));
    await waitFor(() => lb.logs.filter((l) => l.msg === 'acme order failed').length >= 2, 10_000, 'two failed attempts');
    const failures = lb.logs.filter((l) => l.msg === 'acme order failed');
    expect(failures[0]).toMatchObject({ domains: ['shop.test', 'www.shop.test'], attempt: 1, keepsServing: 'the fallback certificate' });
    expect(failures[1]!.attempt).toBe(2);
    expect(failures[1]!.retryInMs as number).toBeGreaterThanOrEqual(failures[0]!.retryInMs as number);
    expect(await renewals(lb, 'failure')).toBeGreaterThanOrEqual(2);
    expect((await servedCertificate(s.tlsPort, 'shop.test')).issuer).toContain('Doorman placeholder');
    expect(acmeCert(lb)).toMatchObject({
      notAfter: null,
      issuer: null,
      acme: { lastError: expect.stringContaining('ECONNREFUSED') as unknown },
    });
    await s.pebble.start();
    await waitFor(() => issued(lb).length === 1, 15_000, 'the certificate after the CA came back');
    const served = await servedCertificate(s.tlsPort, 'shop.test', await s.pebble.root());
    expect(served.issuer).toContain('Pebble');
    expect(acmeCert(lb)?.acme).toMatchObject({ failures: 0, lastError: null });
  });

  it('reports a refused order, counts it, retries, and keeps the fallback certificate', async () => {
    const s = await setup({ blocked: ['blocked.test'] });
    const lb = await start(s, config(s, 'http-01', { domains: ['blocked.test'] }));
    await waitFor(() => lb.logs.filter((l) => l.msg === 'acme order failed').length >= 2, 10_000, 'two refused orders');
    const failure = lb.logs.find((l) => l.msg === 'acme order failed')!;
    expect(String(failure.err)).toMatch(/blocked|rejected|policy/i);
    expect(await renewals(lb, 'failure')).toBeGreaterThanOrEqual(2);
    expect(acmeCert(lb)).toMatchObject({ names: ['blocked.test'], notAfter: null, acme: { failures: expect.any(Number) as unknown } });
    expect((await servedCertificate(s.tlsPort, 'blocked.test')).issuer).toContain('Doorman placeholder');
    expect(issued(lb)).toHaveLength(0);
  });

  it('stores the account and certificate (0600) and reuses them after a restart without a new order', async () => {
    const s = await setup();
    const cfg = config(s, 'http-01');
    const first = await start(s, cfg);
    await waitFor(() => issued(first).length === 1, 15_000, 'the certificate');
    const root = await s.pebble.root();
    const served = await servedCertificate(s.tlsPort, 'shop.test', root);
    await first.close();
    for (const file of ['acme/account.json', 'acme/certs/shop.test.json']) {
      expect(statSync(join(s.dir, file)).mode & 0o777).toBe(0o600);
    }
    const second = await start(s, cfg);
    await waitFor(() => second.logs.some((l) => l.msg === 'acme certificate loaded from storage'), 10_000, 'the stored certificate');
    expect((await servedCertificate(s.tlsPort, 'shop.test', root)).serialNumber).toBe(served.serialNumber);
    const view = await waitForValue(() => (acmeCert(second)?.nextRenewal ? acmeCert(second) : undefined), 5_000, 'the renewal schedule');
    expect(view.acme?.ordering).toBe(false);
    expect(Date.parse(view.nextRenewal!)).toBeGreaterThan(Date.now() + 30 * 86_400_000);
    expect(issued(second)).toHaveLength(0);
    expect(await renewals(second, 'success')).toBe(0);
  });

  it('moves a corrupt or foreign storage file aside, says so, and orders anew', async () => {
    const s = await setup();
    mkdirSync(join(s.dir, 'acme/certs'), { recursive: true });
    writeFileSync(join(s.dir, 'acme/certs/shop.test.json'), '{ not json');
    writeFileSync(join(s.dir, 'acme/account.json'), JSON.stringify({ directory: 'https://other-ca.example/dir', key: 'x', url: null }));
    const lb = await start(s, config(s, 'http-01'));
    await waitFor(() => issued(lb).length === 1, 15_000, 'the certificate');
    const reports = lb.logs.filter((l) => l.msg === 'acme storage file is corrupt or foreign: moved aside, a new one will be written');
    expect(reports.map((r) => r.reason).sort()).toEqual(['belongs to another CA (https://other-ca.example/dir)', 'not valid JSON']);
    for (const report of reports) expect(existsSync(report.movedTo as string)).toBe(true);
    const aside = readdirSync(join(s.dir, 'acme/certs')).find((f) => f.includes('.rejected-'))!;
    expect(readFileSync(join(s.dir, 'acme/certs', aside), 'utf8')).toBe('{ not json');
    expect(JSON.parse(readFileSync(join(s.dir, 'acme/certs/shop.test.json'), 'utf8'))).toMatchObject({
      domains: ['shop.test', 'www.shop.test'],
    });
  });

  it('shows file and ACME certificates in /api/certs and lb_cert_expiry_timestamp_seconds', async () => {
    const s = await setup();
    writeFileSync(join(s.dir, 'front.crt'), pki.front.cert);
    writeFileSync(join(s.dir, 'front.key'), pki.front.key);
    const cfg = config(s, 'http-01');
    (cfg.frontends as Array<{ tls: { certs: unknown } }>)[0]!.tls.certs = [{ cert: 'front.crt', key: 'front.key' }];
    const lb = await start(s, cfg);
    await waitFor(() => typeof acmeCert(lb)?.nextRenewal === 'string', 15_000, 'the certificate and its renewal schedule');
    const certs = lb.lb.certificates();
    expect(certs).toEqual([
      {
        frontend: 'https',
        names: ['localhost'],
        issuer: 'Doorman Test CA',
        notAfter: expect.any(String) as unknown,
        source: 'file',
        nextRenewal: null,
      },
      expect.objectContaining({
        frontend: 'https',
        names: ['shop.test', 'www.shop.test'],
        source: 'acme',
        issuer: expect.stringContaining('Pebble') as unknown,
        nextRenewal: expect.any(String) as unknown,
      }),
    ]);
    const samples = parseMetrics(await lb.lb.metrics.registry.metrics());
    expect(metric(samples, 'lb_cert_expiry_timestamp_seconds', { frontend: 'https', name: 'shop.test' })).toBe(
      Math.floor(Date.parse(certs[1]!.notAfter!) / 1000),
    );
    expect(metric(samples, 'lb_cert_expiry_timestamp_seconds', { frontend: 'https', name: 'localhost' })).toBe(
      Math.floor(Date.parse(certs[0]!.notAfter!) / 1000),
    );
    // The file certificate stays the default (no SNI), the ACME one answers its names.
    expect((await servedCertificate(s.tlsPort, 'localhost')).subject).toContain('CN=localhost');
    expect((await servedCertificate(s.tlsPort, 'shop.test')).issuer).toContain('Pebble');
  });

  it('a reload keeps a pending order (its backoff goes on) and the certificate it then gets, without ordering again', async () => {
    const s = await setup({ startPebble: false });
    const lb = await start(s, config(s, 'http-01'));
    const failed = () => lb.logs.filter((l) => l.msg === 'acme order failed');
    await waitFor(() => failed().length >= 1, 10_000, 'a failed attempt');
    const file = join(s.dir, 'lb.yaml');
    const reload = () => lb.lb.reload(parseConfig(readFileSync(file, 'utf8'), file));
    expect(await reload()).toEqual([]);
    const before = failed().length;
    await waitFor(() => failed().length > before, 10_000, 'the next attempt');
    // One schedule, carried over: attempts keep counting up, none starts again at 1.
    expect(failed().map((l) => l.attempt)).toEqual(failed().map((_, i) => i + 1));
    await s.pebble.start();
    await waitFor(() => issued(lb).length === 1, 15_000, 'the certificate');
    const served = await servedCertificate(s.tlsPort, 'shop.test', await s.pebble.root());
    expect(await reload()).toEqual([]);
    expect((await servedCertificate(s.tlsPort, 'shop.test')).serialNumber).toBe(served.serialNumber);
    expect(acmeCert(lb)?.acme?.ordering).toBe(false);
    expect(issued(lb)).toHaveLength(1);
  });

  it('warns in the log about a file certificate that expires within 14 days, and exports its expiry', async () => {
    const dir = tempDir('doorman-expiry-');
    const soon = pki.issue('soon.test', ['soon.test'], { notAfter: new Date(Date.now() + 5 * 86_400_000) });
    writeFileSync(join(dir, 'soon.crt'), soon.cert);
    writeFileSync(join(dir, 'soon.key'), soon.key);
    const web = await startBackend({ name: 'web1' });
    cleanups.push(() => web.close());
    const lb = await startLb(
      {
        frontends: [{ name: 'https', bind: '127.0.0.1:0', tls: { certs: [{ cert: 'soon.crt', key: 'soon.key' }] }, backend: 'web' }],
        backends: [{ name: 'web', servers: [{ name: 'web1', address: web.address }] }],
      },
      dir,
    );
    cleanups.push(() => lb.close());
    const warning = lb.logs.find((l) => l.msg === 'certificate expires in less than 14 days');
    expect(warning).toMatchObject({ level: 40, frontend: 'https', names: ['soon.test'], source: 'file', daysLeft: 4 });
    const samples = parseMetrics(await lb.lb.metrics.registry.metrics());
    expect(metric(samples, 'lb_cert_expiry_timestamp_seconds', { frontend: 'https', name: 'soon.test' })).toBe(
      Math.floor(Date.parse(new X509Certificate(soon.cert).validTo) / 1000),
    );
  });

  it('binds the account to an external account (acme.eab) when the CA requires it, and reports the refusal without', async () => {
    const hmacKey = 'zWNDZM6eQGHWpSRTPal5eIUYFTu7EajVIoguysqZ9wG44nMEtx3MUAsUDkMTQ12W';
    const s = await setup({ eab: { 'kid-1': hmacKey } });
    const refused = await start(s, config(s, 'http-01'));
    await waitFor(() => refused.logs.some((l) => l.msg === 'acme order failed'), 10_000, 'a refused account');
    expect(String(refused.logs.find((l) => l.msg === 'acme order failed')!.err)).toMatch(/externalAccountBinding|external account/i);
    await refused.close();
    const bound = await start(s, config(s, 'http-01', { acme: { eab: { kid: 'kid-1', hmacKey } } }));
    await waitFor(() => issued(bound).length === 1, 15_000, 'the certificate');
    expect(bound.logs.find((l) => l.msg === 'acme account created')).toBeDefined();
  });
});
