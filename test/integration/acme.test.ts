// ACME against a real ACME server: Pebble issues certificates for shop.test after
// validating Doorman's frontends (http-01 on the plain port, tls-alpn-01 on the TLS
// port); the issued chain is then checked by a real TLS client that trusts only
// Pebble's root and asks for the name by SNI.
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend } from '../helpers/backend.js';
import { startLb, tempDir, type RunningLb } from '../helpers/lb.js';
import { freePort, preparePebble, type Pebble } from '../helpers/pebble.js';
import { testPki } from '../helpers/pki.js';
import { waitFor, waitForValue } from '../helpers/wait.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

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

async function setup(options: { blocked?: string[]; validitySeconds?: number; startPebble?: boolean } = {}): Promise<Setup> {
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

function config(s: Setup, challenge: 'http-01' | 'tls-alpn-01', extra: { acme?: Record<string, unknown>; domains?: string[] } = {}): Record<string, unknown> {
  return {
    acme: { directory: s.pebble.directory, email: 'ops@shop.test', storage: 'acme', ca: 'pebble-ca.crt', backoff: { min: '200ms', max: '1s' }, ...extra.acme },
    frontends: [
      { name: 'https', bind: `127.0.0.1:${s.tlsPort}`, tls: { acme: { domains: extra.domains ?? ['shop.test', 'www.shop.test'], challenge } }, backend: 'web' },
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
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['http/1.1'], ...(ca ? { ca } : { rejectUnauthorized: false }) }, () => {
      const peer = socket.getPeerX509Certificate();
      socket.end();
      if (peer) resolve(peer);
      else reject(new Error('no peer certificate'));
    });
    socket.once('error', reject);
  });
}

function acmeCert(lb: RunningLb) {
  return lb.lb.certificates().find((c) => c.source === 'acme');
}

describe('ACME with Pebble', () => {
  for (const challenge of ['http-01', 'tls-alpn-01'] as const) {
    it(`issues a certificate by ${challenge} and serves it to new connections without a restart`, async () => {
      const s = await setup();
      const lb = await start(s, config(s, challenge));
      // Meanwhile: the stand-in certificate.
      const before = await servedCertificate(s.tlsPort, 'shop.test');
      expect(before.issuer).toContain('Doorman placeholder');
      await waitFor(() => acmeCert(lb)?.notAfter != null, 15_000, 'the issued certificate');
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
});
