// The core data path: TLS in, pinned TLS out, headers both ways, error mapping.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spkiPin } from '../../src/tls/pin.js';
import { startBackend, type TestBackend } from '../helpers/backend.js';
import { rawExchange, request, waitFor } from '../helpers/client.js';
import { startLb, tempDir, writePair, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';

const pki = testPki();

describe('core data path', () => {
  let web1: TestBackend;
  let web2: TestBackend;
  let running: RunningLb;
  const web1Cert = pki.selfSigned('web1', ['web1', '127.0.0.1']);
  const web2Cert = pki.selfSigned('web2', ['web2']);

  beforeAll(async () => {
    web1 = await startBackend({ name: 'web1', tls: web1Cert });
    web2 = await startBackend({ name: 'web2', tls: web2Cert });
    const dir = tempDir();
    const front = writePair(dir, 'front', pki.front);
    const w1 = writePair(dir, 'web1', web1Cert);
    const w2 = writePair(dir, 'web2', web2Cert);
    running = await startLb(
      {
        frontends: [
          { name: 'https', bind: '127.0.0.1:0', tls: { certs: [front] }, backend: 'web' },
          { name: 'http', bind: '127.0.0.1:0', backend: 'web' },
          { name: 'redirect', bind: '127.0.0.1:0', redirect: 'https' },
        ],
        backends: [
          {
            name: 'web',
            servers: [
              { name: 'web1', address: web1.address, tls: { ca: w1.cert, servername: 'web1', pins: [spkiPin(web1Cert.cert)] } },
              { name: 'web2', address: web2.address, tls: { ca: w2.cert, servername: 'web2' } },
            ],
          },
        ],
      },
      dir,
    );
  });

  afterAll(async () => {
    await running?.close();
    await web1?.close();
    await web2?.close();
  });

  it('terminates TLS and forwards to a pinned TLS backend', async () => {
    const reply = await request({ port: running.port('https'), ca: pki.ca.cert, path: '/hello?x=1' });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatch(/^backend=web[12] path=\/hello\?x=1/);
  });

  it('logs the request with its durations in milliseconds to the microsecond', async () => {
    const reply = await request({ port: running.port('https'), ca: pki.ca.cert, path: '/timed' });
    expect(reply.status).toBe(200);
    await waitFor(() => running.logs.some((l) => l.msg === 'access' && l.path === '/timed'), 5000, 'access line');
    const line = running.logs.find((l) => l.msg === 'access' && l.path === '/timed')!;
    for (const field of ['queueMs', 'connectMs', 'responseMs', 'totalMs']) {
      const value = line[field];
      expect(typeof value).toBe('number');
      expect(Math.round((value as number) * 1000) / 1000).toBe(value);
    }
    expect(line.totalMs).toBeGreaterThan(0);
  });

  it('spreads requests over both servers', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) {
      const reply = await request({ port: running.port('https'), ca: pki.ca.cert });
      seen.add(String(reply.headers['x-backend']));
    }
    expect([...seen].sort()).toEqual(['web1', 'web2']);
  });

  it('redirects the plain frontend with 308 to the https port', async () => {
    const reply = await request({ port: running.port('redirect'), path: '/a/b?c=d', headers: { host: 'example.test:8080' } });
    expect(reply.status).toBe(308);
    expect(reply.headers.location).toBe(`https://example.test:${running.port('https')}/a/b?c=d`);
  });

  it('answers 400 to two Host headers', async () => {
    const out = await rawExchange(running.port('https'), 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', pki.ca.cert);
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
  });
});
