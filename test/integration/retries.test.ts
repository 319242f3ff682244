// Retries and redispatch: connect failures move to another server, a dead keep-alive
// socket is retried for body-less GETs, a request body is never replayed.
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend, startRawBackend, type TestBackend } from '../helpers/backend.js';
import { request } from '../helpers/client.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';

const pki = testPki();
const certs = { web1: pki.selfSigned('web1'), web2: pki.selfSigned('web2') };
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function backend(name: 'web1' | 'web2'): Promise<TestBackend> {
  const b = await startBackend({ name, tls: certs[name] });
  cleanups.push(() => b.close());
  return b;
}

async function proxy(servers: Parameters<typeof startProxy>[1], backendOptions: Record<string, unknown> = {}): Promise<RunningLb> {
  const running = await startProxy(pki.front, servers, { backend: backendOptions });
  cleanups.push(() => running.close());
  return running;
}

async function closedAddress(): Promise<string> {
  const b = await startBackend({ name: 'gone' });
  await b.close();
  return b.address;
}

describe('retries and redispatch', () => {
  it('redispatches a connect failure to the other server, re-setting the cookie', async () => {
    const web2 = await backend('web2');
    const running = await proxy(
      [
        { name: 'web1', address: await closedAddress(), trust: certs.web1 },
        { name: 'web2', address: web2.address, trust: certs.web2 },
      ],
      { cookie: { name: 'WEBSERVERID' }, retries: 3, redispatch: true },
    );
    const reply = await request({ port: running.port(), ca: pki.ca.cert, headers: { cookie: 'WEBSERVERID=web1' } });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-backend']).toBe('web2');
    expect(reply.headers['set-cookie']![0]).toMatch(/^WEBSERVERID=web2;/);
    const access = running.logs.find((l) => l.msg === 'access')!;
    expect(access.retries).toBe(1);
    expect(access.redispatched).toBe(true);
  });

  it('retries the same server without redispatch and gives up after `retries`', async () => {
    const running = await proxy([{ name: 'web1', address: await closedAddress(), trust: certs.web1 }], { retries: 2, redispatch: false });
    const reply = await request({ port: running.port(), ca: pki.ca.cert });
    expect(reply.status).toBe(502);
    expect(running.logs.find((l) => l.msg === 'access')!.retries).toBe(2);
  });

  it('sends a POST body whole to the next server after a connect failure', async () => {
    const web2 = await backend('web2');
    const running = await proxy([
      { name: 'web1', address: await closedAddress(), trust: certs.web1 },
      { name: 'web2', address: web2.address, trust: certs.web2 },
    ]);
    const body = 'x'.repeat(100_000);
    for (let i = 0; i < 4; i++) {
      const reply = await request({ port: running.port(), ca: pki.ca.cert, method: 'POST', body });
      expect(reply.status).toBe(200);
    }
    expect(web2.requests.map((r) => r.body.length)).toEqual([100_000, 100_000, 100_000, 100_000]);
  });

  it('never replays a POST whose server reset mid-body: 502', async () => {
    let seen = 0;
    const resetter = await startRawBackend(certs.web1, (socket) =>
      socket.once('data', () => {
        seen += 1;
        socket.destroy();
      }),
    );
    cleanups.push(resetter.close);
    const web2 = await backend('web2');
    const running = await proxy(
      [
        { name: 'web1', address: resetter.address, trust: certs.web1 },
        { name: 'web2', address: web2.address, trust: certs.web2, extra: { weight: 0 } },
      ],
      { retries: 3, redispatch: true },
    );
    const reply = await request({ port: running.port(), ca: pki.ca.cert, method: 'POST', body: 'y'.repeat(200_000) });
    expect(reply.status).toBe(502);
    expect(seen).toBe(1);
    expect(web2.requests).toHaveLength(0);
  });

  it('retries a GET whose connection died before the first response byte', async () => {
    const flaky = await startRawBackend(certs.web1, (socket, index) =>
      socket.once('data', () => {
        if (index === 0) socket.destroy();
        else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      }),
    );
    cleanups.push(flaky.close);
    const running = await proxy([{ name: 'web1', address: flaky.address, trust: certs.web1 }], { retries: 1, redispatch: false });
    const reply = await request({ port: running.port(), ca: pki.ca.cert });
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('ok');
    expect(running.logs.find((l) => l.msg === 'access')!.retries).toBe(1);
  });

  it('loses no GET when one of two servers is killed under load', async () => {
    const web1 = await backend('web1');
    const web2 = await backend('web2');
    const running = await proxy(
      [
        { name: 'web1', address: web1.address, trust: certs.web1 },
        { name: 'web2', address: web2.address, trust: certs.web2 },
      ],
      { retries: 3, redispatch: true },
    );
    const agent = new (await import('node:https')).Agent({ keepAlive: true, maxSockets: 8 });
    const statuses: number[] = [];
    let killed = false;
    const deadline = Date.now() + 8000;
    const worker = async () => {
      // Bounded: 300 requests per worker or 8 seconds.
      for (let i = 0; i < 300 && Date.now() < deadline; i++) {
        const reply = await request({ port: running.port(), ca: pki.ca.cert, agent });
        statuses.push(reply.status);
        if (!killed && statuses.length === 200) {
          killed = true;
          await web1.close();
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    agent.destroy();
    expect(killed).toBe(true);
    expect(statuses.length).toBeGreaterThan(400);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });
});
