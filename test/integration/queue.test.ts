// maxconn and queues: requests over a server's limit wait in FIFO order for at most
// timeouts.queue; a client that leaves frees its place.
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend } from '../helpers/backend.js';
import { request } from '../helpers/client.js';
import { startProxy, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { once, waitFor } from '../helpers/wait.js';

const pki = testPki();
const cert = pki.selfSigned('web1');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A backend that holds every request until `release()` is called. */
async function gatedBackend() {
  const waiting: Array<() => void> = [];
  const backend = await startBackend({
    name: 'web1',
    tls: cert,
    handler: (req, res) => {
      waiting.push(() => res.end(`done ${req.url}`));
    },
  });
  cleanups.push(() => backend.close());
  return {
    backend,
    held: () => waiting.length,
    releaseOne: () => waiting.shift()?.(),
  };
}

async function proxy(address: string, queue = '10s'): Promise<RunningLb> {
  const running = await startProxy(pki.front, [{ name: 'web1', address, trust: cert, extra: { maxconn: 2 } }], {
    top: { timeouts: { queue } },
  });
  cleanups.push(() => running.close());
  return running;
}

describe('maxconn queue', () => {
  it('runs 2 of 6 requests at once, queues 4, and completes all in order', async () => {
    const gate = await gatedBackend();
    const running = await proxy(gate.backend.address);
    const backend = running.lb.backends.get('web')!;
    const server = backend.servers[0]!;
    const replies: Array<Promise<{ status: number; body: string }>> = [];
    for (let i = 0; i < 6; i++) {
      replies.push(request({ port: running.port(), ca: pki.ca.cert, path: `/r${i}` }));
      // Enqueue in a known order.
      await waitFor(() => server.active + backend.queued === i + 1, 5000, `request ${i} placed`);
    }
    await waitFor(() => gate.held() === 2, 5000, 'two requests at the server');
    expect(server.active).toBe(2);
    expect(backend.queued).toBe(4);
    for (let done = 0; done < 6; done++) {
      await waitFor(() => gate.held() === Math.min(2, 6 - done), 5000, 'next request at the server');
      expect(server.active).toBeLessThanOrEqual(2);
      gate.releaseOne();
    }
    for (const reply of await Promise.all(replies)) {
      expect(reply.status).toBe(200);
    }
    expect(gate.backend.requests.map((r) => r.url)).toEqual(['/r0', '/r1', '/r2', '/r3', '/r4', '/r5']);
    expect(server.active).toBe(0);
    const access = running.logs.filter((l) => l.msg === 'access');
    expect(access.filter((l) => (l.queueMs as number) > 0)).toHaveLength(4);
  });

  it('answers 503 to a request that waited timeouts.queue, never serving it late', async () => {
    const gate = await gatedBackend();
    const running = await proxy(gate.backend.address, '300ms');
    const first = [0, 1].map((i) => request({ port: running.port(), ca: pki.ca.cert, path: `/held${i}` }));
    await waitFor(() => gate.held() === 2, 5000, 'server full');
    const started = Date.now();
    const late = await request({ port: running.port(), ca: pki.ca.cert, path: '/late' });
    expect(late.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    gate.releaseOne();
    gate.releaseOne();
    await Promise.all(first);
    expect(gate.backend.requests.map((r) => r.url)).not.toContain('/late');
    expect(running.logs.find((l) => l.msg === 'access' && l.path === '/late')!.termination).toBe('queue-timeout');
  });

  it('frees the place of a client that disconnects while queued', async () => {
    const gate = await gatedBackend();
    const running = await proxy(gate.backend.address);
    const backend = running.lb.backends.get('web')!;
    const held = [0, 1].map((i) => request({ port: running.port(), ca: pki.ca.cert, path: `/held${i}` }));
    await waitFor(() => gate.held() === 2, 5000, 'server full');
    const socket = tls.connect({ host: '127.0.0.1', port: running.port(), ca: pki.ca.cert, servername: 'localhost' });
    await once(socket, 'secureConnect');
    socket.write('GET /gone HTTP/1.1\r\nHost: a\r\n\r\n');
    await waitFor(() => backend.queued === 1, 5000, 'queued');
    socket.destroy();
    await waitFor(() => backend.queued === 0, 5000, 'left the queue');
    const next = request({ port: running.port(), ca: pki.ca.cert, path: '/next' });
    await waitFor(() => backend.queued === 1, 5000, 'next queued');
    gate.releaseOne();
    await waitFor(() => gate.held() === 2, 5000, 'next at the server');
    gate.releaseOne();
    gate.releaseOne();
    expect((await next).status).toBe(200);
    await Promise.all(held);
    expect(gate.backend.requests.map((r) => r.url)).not.toContain('/gone');
  });
});

describe('queue when the last server goes away', () => {
  it('answers a waiting request 503 at once, not at timeouts.queue', async () => {
    const gate = await gatedBackend();
    const running = await proxy(gate.backend.address, '20s');
    const backend = running.lb.backends.get('web')!;
    const held = [0, 1].map((i) => request({ port: running.port(), ca: pki.ca.cert, path: `/held${i}` }));
    await waitFor(() => gate.held() === 2, 5000, 'server full');
    const started = Date.now();
    const waiting = request({ port: running.port(), ca: pki.ca.cert, path: '/waiting' });
    await waitFor(() => backend.queued === 1, 5000, 'queued');
    await running.lb.control.setState('web', 'web1', 'MAINT');
    expect((await waiting).status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5000);
    gate.releaseOne();
    gate.releaseOne();
    await Promise.all(held);
  });
});
