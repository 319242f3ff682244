// Mutual TLS to servers (stunnel's `cert=`): a server that requires a client certificate
// gets Doorman's, for traffic and health checks; without it the handshake fails (502),
// and --check refuses a key that does not match its certificate.
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { readConfig } from '../../src/config/read.js';
import { issueCertificate } from '../../src/dev/pki.js';
import { request } from '../helpers/client.js';
import { startLb, tempDir, writePair, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';

const pki = testPki();
const serverCert = pki.selfSigned('web1');
const clientCert = issueCertificate({ commonName: 'doorman-client', issuer: pki.ca, clientAuth: true });

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** An HTTPS server that only talks to clients with a certificate from the test CA; it answers with the client's CN. */
async function strictServer(): Promise<number> {
  const server = https.createServer({ ...serverCert, ca: pki.ca.cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    res.end(`client=${String(peer.subject?.CN ?? 'none')}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.address() as { port: number }).port;
}

async function proxy(port: number, withClientCert: boolean): Promise<RunningLb> {
  const dir = tempDir();
  const front = writePair(dir, 'front', pki.front);
  const ca = writePair(dir, 'web1', serverCert).cert;
  const client = writePair(dir, 'client', clientCert);
  const running = await startLb(
    {
      frontends: [{ name: 'https', bind: '127.0.0.1:0', tls: { certs: [front] }, backend: 'web' }],
      backends: [
        {
          name: 'web',
          retries: 0,
          check: { path: '/health', interval: '60s' },
          servers: [
            {
              name: 'web1',
              address: `127.0.0.1:${port}`,
              tls: { ca, servername: 'web1', ...(withClientCert ? { cert: client.cert, key: client.key } : {}) },
            },
          ],
        },
      ],
    },
    dir,
  );
  cleanups.push(() => running.close());
  return running;
}

describe('mutual TLS to servers', () => {
  it('presents its client certificate to the server, for requests and checks', async () => {
    const running = await proxy(await strictServer(), true);
    const reply = await request({ port: running.port(), ca: pki.ca.cert });
    expect([reply.status, reply.body]).toEqual([200, 'client=doorman-client\n']);
    await running.lb.health.checker.runOnce('web/web1');
    expect(running.lb.control.view().backends[0]!.servers[0]!.lastCheck).toMatchObject({ status: 'ok' });
  });

  it('gets no answer from such a server without one: 502', async () => {
    const running = await proxy(await strictServer(), false);
    expect((await request({ port: running.port(), ca: pki.ca.cert })).status).toBe(502);
  });

  it('refuses, in --check, a key that does not match its certificate, and cert without key', async () => {
    const dir = tempDir();
    const front = writePair(dir, 'front', pki.front);
    const client = writePair(dir, 'client', clientCert);
    const other = writePair(dir, 'other', pki.issue('other'));
    const base = { frontends: [{ name: 'https', bind: '127.0.0.1:0', tls: { certs: [front] }, backend: 'web' }] };
    const file = join(dir, 'lb.yaml');
    writeFileSync(
      file,
      stringify({
        ...base,
        backends: [{ name: 'web', servers: [{ name: 'web1', address: '127.0.0.1:1', tls: { cert: client.cert, key: other.key } }] }],
      }),
    );
    expect((await readConfig(file, {}, true)).problems).toEqual([
      'backends.0.servers.0.tls.key: does not match backends.0.servers.0.tls.cert',
    ]);
    writeFileSync(
      file,
      stringify({ ...base, backends: [{ name: 'web', servers: [{ name: 'web1', address: '127.0.0.1:1', tls: { cert: client.cert } }] }] }),
    );
    expect((await readConfig(file, {}, true)).problems).toEqual([
      'backends.0.servers.0.tls: set both cert and key for mutual TLS, or neither',
    ]);
  });
});
