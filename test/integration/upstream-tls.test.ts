// Upstream TLS fails closed: wrong CA, wrong name, wrong pin or an expired
// certificate gives 502 and the server never sees a request byte.
import { afterEach, describe, expect, it } from 'vitest';
import { spkiPin } from '../../src/tls/pin.js';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { request } from '../helpers/client.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';

const pki = testPki();
const DAY = 86_400_000;

describe('upstream TLS', () => {
  let backend: TestBackend | undefined;
  let running: RunningLb | undefined;

  afterEach(async () => {
    await running?.close();
    await backend?.close();
    running = backend = undefined;
  });

  const good = pki.selfSigned('web1', ['web1']);
  const other = pki.selfSigned('web1', ['web1']);

  const cases = [
    {
      what: 'the right CA, name and pin',
      served: good,
      trust: good,
      servername: 'web1',
      pins: [spkiPin(good.cert)],
      status: 200,
      reason: '',
    },
    {
      what: 'a pin among several',
      served: good,
      trust: good,
      servername: 'web1',
      pins: [spkiPin(other.cert), spkiPin(good.cert)],
      status: 200,
      reason: '',
    },
    {
      what: 'a wrong pin',
      served: good,
      trust: good,
      servername: 'web1',
      pins: [spkiPin(other.cert)],
      status: 502,
      reason: 'tls: pin mismatch',
    },
    { what: 'a certificate from another CA', served: other, trust: good, servername: 'web1', pins: [], status: 502, reason: 'tls: ' },
    {
      what: 'a name mismatch',
      served: good,
      trust: good,
      servername: 'web9',
      pins: [],
      status: 502,
      reason: 'tls: ERR_TLS_CERT_ALTNAME_INVALID',
    },
    {
      what: 'an expired certificate',
      served: pki.selfSigned('old', ['old'], { notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) }),
      trust: undefined,
      servername: 'old',
      pins: [],
      status: 502,
      reason: 'tls: CERT_HAS_EXPIRED',
    },
  ];

  for (const c of cases) {
    it(`${c.status === 200 ? 'accepts' : 'refuses'} ${c.what}`, async () => {
      backend = await startBackend({ name: 'web1', tls: c.served });
      running = await startProxy(pki.front, [
        { name: 'web1', address: backend.address, trust: c.trust ?? c.served, servername: c.servername, pins: c.pins },
      ]);
      const reply = await request({ port: running.port(), ca: pki.ca.cert, path: '/secret' });
      expect(reply.status).toBe(c.status);
      if (c.status === 200) {
        expect(backend.requests).toHaveLength(1);
        return;
      }
      expect(reply.headers['content-type']).toMatch(/^text\/plain/);
      expect(backend.requests).toHaveLength(0);
      const access = running.logs.find((l) => l.msg === 'access');
      expect(access?.error).toContain(c.reason);
      expect(access?.termination).toBe('tls-error');
    });
  }

  it('talks plain HTTP to a server without tls', async () => {
    backend = await startBackend({ name: 'plain' });
    running = await startProxy(pki.front, [{ name: 'plain', address: backend.address }]);
    const reply = await request({ port: running.port(), ca: pki.ca.cert });
    expect(reply.status).toBe(200);
    expect(reply.body).toContain('backend=plain');
  });

  it('answers 502 when the server refuses connections', async () => {
    backend = await startBackend({ name: 'gone' });
    const address = backend.address;
    await backend.close();
    backend = undefined;
    running = await startProxy(pki.front, [{ name: 'gone', address }], { backend: { retries: 0 } });
    const reply = await request({ port: running.port(), ca: pki.ca.cert });
    expect(reply.status).toBe(502);
    expect(running.logs.find((l) => l.msg === 'access')?.error).toBe('connect: ECONNREFUSED');
  });
});
