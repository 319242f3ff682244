// ACME through the command line: `--check` validates the ACME config without contacting
// the CA, and `workers: 2` orders once in the primary while both workers answer the
// challenge and serve the certificate.
import tls from 'node:tls';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { metric, parseMetrics } from '../helpers/admin.js';
import { startBackend } from '../helpers/backend.js';
import { runCli, startCli } from '../helpers/cli.js';
import { tempDir } from '../helpers/lb.js';
import { preparePebble } from '../helpers/pebble.js';
import { freePort } from '../helpers/ports.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function acmeConfig(directory: string, httpPort: number, tlsPort: number, acme: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    acme: { directory, email: 'ops@shop.test', storage: 'acme', ca: 'pebble-ca.crt', backoff: { min: '200ms', max: '1s' }, ...acme },
    frontends: [
      { name: 'https', bind: `127.0.0.1:${tlsPort}`, tls: { acme: { domains: ['shop.test'], challenge: 'http-01' } }, backend: 'web' },
      { name: 'http', bind: `127.0.0.1:${httpPort}`, redirect: 'https' },
    ],
    backends: [{ name: 'web', servers: [{ name: 'web1', address: '127.0.0.1:9' }] }],
  };
}

describe('ACME from the command line', () => {
  it('--check validates the ACME config without contacting the CA', async () => {
    const dir = tempDir('doorman-acme-check-');
    writeFileSync(join(dir, 'pebble-ca.crt'), pki.ca.cert);
    writeFileSync(join(dir, 'not-a-folder'), 'x');
    // Nothing listens at the directory URL: --check never asks it.
    const good = acmeConfig(`https://127.0.0.1:${await freePort()}/dir`, 8080, 8443);
    writeFileSync(join(dir, 'lb.yaml'), stringify(good));
    const ok = await runCli(['--check', '-c', 'lb.yaml'], dir);
    expect({ code: ok.code, stdout: ok.stdout, stderr: ok.stderr }).toEqual({ code: 0, stdout: 'config OK\n', stderr: '' });

    const bad = acmeConfig('https://127.0.0.1:1/dir', 8080, 8443, { storage: 'not-a-folder/acme', ca: 'missing.crt' });
    writeFileSync(join(dir, 'bad.yaml'), stringify(bad));
    const failed = await runCli(['--check', '-c', 'bad.yaml'], dir);
    expect(failed.code).toBe(1);
    expect(failed.stderr.trim().split('\n').sort()).toEqual([
      `acme.ca: cannot read ${join(dir, 'missing.crt')} (ENOENT)`,
      `acme.storage: ${join(dir, 'not-a-folder')} is not a folder`,
    ]);

    const names = acmeConfig('http://ca.example/dir', 8080, 8443);
    (names.frontends as Array<{ tls: { acme: { domains: string[] } } }>)[0]!.tls.acme.domains = ['*.shop.test'];
    writeFileSync(join(dir, 'names.yaml'), stringify(names));
    const refused = await runCli(['--check', '-c', 'names.yaml'], dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toEqual([
      "acme.directory: expected the https URL of the CA's ACME directory",
      'frontends.0.tls.acme.domains.0: wildcard names need the dns-01 challenge, which Doorman does not offer',
    ]);
  });

  it('with two workers, the primary orders once and every worker answers the challenge and serves the certificate', async () => {
    const dir = tempDir('doorman-acme-workers-');
    const [httpPort, tlsPort] = [await freePort(), await freePort()];
    writeFileSync(join(dir, 'pebble-ca.crt'), pki.ca.cert);
    const pebble = await preparePebble({ dir, httpPort, tlsPort, listener: pki.front, listenerCa: pki.ca.cert });
    cleanups.push(() => pebble.stop());
    await pebble.start();
    const web = await startBackend({ name: 'web1' });
    cleanups.push(() => web.close());
    const config = acmeConfig(pebble.directory, httpPort, tlsPort);
    (config.backends as Array<{ servers: Array<{ address: string }> }>)[0]!.servers[0]!.address = web.address;
    writeFileSync(join(dir, 'lb.yaml'), stringify({ ...config, workers: 2, admin: { bind: '127.0.0.1:0' }, timeouts: { shutdown: '2s' } }));
    const cli = startCli(['-c', 'lb.yaml'], dir);
    cleanups.push(() => cli.kill());
    const adminLine = await cli.waitForLine((l) => l.msg === 'admin listening', 15_000, 'admin listening');
    const issued = await cli.waitForLine((l) => l.msg === 'acme certificate issued', 20_000, 'the certificate');
    const primaryPid = adminLine.pid;
    expect(issued.pid).toBe(primaryPid);
    const root = await pebble.root();
    // Connections land on both workers: every one is served the issued certificate.
    const servedBy = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const peer = await new Promise<tls.PeerCertificate>((resolve, reject) => {
        const socket = tls.connect(
          { host: '127.0.0.1', port: tlsPort, servername: 'shop.test', ca: root, ALPNProtocols: ['http/1.1'] },
          () => {
            resolve(socket.getPeerCertificate());
            socket.end();
          },
        );
        socket.once('error', reject);
      });
      servedBy.add(peer.serialNumber);
    }
    expect(servedBy.size).toBe(1);
    const admin = `http://127.0.0.1:${adminLine.port as number}`;
    const { certs } = (await (await fetch(`${admin}/api/certs`)).json()) as { certs: Array<Record<string, unknown>> };
    expect(certs).toEqual([
      expect.objectContaining({
        frontend: 'https',
        names: ['shop.test'],
        source: 'acme',
        issuer: expect.stringContaining('Pebble') as unknown,
      }),
    ]);
    const samples = parseMetrics(await (await fetch(`${admin}/metrics`)).text());
    expect(metric(samples, 'lb_acme_renewals_total', { result: 'success' })).toBe(1);
    expect(metric(samples, 'lb_cert_expiry_timestamp_seconds', { frontend: 'https', name: 'shop.test' })).toBeGreaterThan(
      Date.now() / 1000,
    );
    // The challenge was answered by a worker (the primary serves nothing): its access line says so.
    await waitFor(
      () =>
        cli.lines.some(
          (l) =>
            l.msg === 'access' && typeof l.path === 'string' && l.path.includes('/.well-known/acme-challenge/') && l.pid !== primaryPid,
        ),
      5_000,
      "the challenge in a worker's access log",
    );
    expect(cli.lines.filter((l) => l.msg === 'acme certificate issued')).toHaveLength(1);
  });
});
