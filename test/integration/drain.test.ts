// Graceful drain (SIGTERM's work): /healthz turns 503 at once, idle keep-alive
// connections close, a request in flight finishes and its answer says
// `Connection: close`, and nothing new is accepted.
import https from 'node:https';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { admin } from '../helpers/admin.js';
import { startBackend } from '../helpers/backend.js';
import { request } from '../helpers/client.js';
import { startProxy } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();
const cert = pki.selfSigned('web1');
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('graceful drain', () => {
  it('answers /healthz 503 at once, closes idle keep-alive connections, finishes the request in flight with Connection: close', async () => {
    const web1 = await startBackend({ name: 'web1', tls: cert });
    cleanups.push(web1.close);
    const running = await startProxy(pki.front, [{ name: 'web1', address: web1.address, trust: cert }], {
      top: { admin: { bind: '127.0.0.1:0' }, timeouts: { shutdown: '10s' } },
    });
    cleanups.push(() => running.close());
    const port = running.port();

    // One idle keep-alive connection, and one that will carry a slow request.
    const idleAgent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    const busyAgent = new https.Agent({ keepAlive: true, maxSockets: 1 });
    cleanups.push(() => {
      idleAgent.destroy();
      busyAgent.destroy();
      return Promise.resolve();
    });
    expect((await request({ port, ca: pki.ca.cert, agent: idleAgent })).headers.connection).toBe('keep-alive');
    const idleSocket = Object.values(idleAgent.freeSockets).flat()[0]!;
    let idleClosed = false;
    idleSocket.once('close', () => (idleClosed = true));

    let release: () => void = () => {};
    web1.setHandler((_req, res) => {
      release = () => res.end('slow\n');
    });
    const slow = request({ port, ca: pki.ca.cert, agent: busyAgent, path: '/slow' });
    await waitFor(() => web1.requests.some((r) => r.url === '/slow'), 5000, 'slow request at web1');

    const adminPort = running.lb.adminPort();
    const done = running.lb.shutdown();
    expect((await admin(running, '/healthz')).status).toBe(503);
    await waitFor(() => idleClosed, 2000, 'idle keep-alive connection closed');
    expect(await refused(port)).toBe(true);

    release();
    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('slow\n');
    expect(reply.headers.connection).toBe('close');
    await done;
    expect(adminPort).toBeDefined();
    expect(running.lb.adminPort()).toBeUndefined();
  });
});

describe('timeouts.grace', () => {
  it('keeps accepting new connections for the grace while /healthz already answers 503, then refuses them', async () => {
    const web1 = await startBackend({ name: 'web1', tls: cert });
    cleanups.push(web1.close);
    const running = await startProxy(pki.front, [{ name: 'web1', address: web1.address, trust: cert }], {
      top: { admin: { bind: '127.0.0.1:0' }, timeouts: { shutdown: '5s', grace: '2s' } },
    });
    cleanups.push(() => running.close());
    const port = running.port();
    const startedAt = Date.now();
    const done = running.lb.shutdown();
    expect((await admin(running, '/healthz')).status).toBe(503);
    // A client that has not moved yet is still served, and told to close.
    const reply = await request({ port, ca: pki.ca.cert });
    expect(reply.status).toBe(200);
    expect(reply.headers.connection).toBe('close');
    expect(Date.now() - startedAt).toBeLessThan(2000);
    await waitFor(() => refused(port), 5000, 'listener closed after the grace');
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(1950);
    await done;
  });
});
