// WebSocket tunnels through the https frontend: the 101 handshake reaches a TLS
// backend, frames flow both ways, refusals are relayed, idle tunnels are closed
// after timeouts.client, and closed tunnels leave nothing behind.
import https from 'node:https';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { rawExchange } from '../helpers/client.js';
import { startProxy, type ProxyOptions, type RunningLb } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { once, waitFor, within } from '../helpers/wait.js';
import {
  openSocketHandles,
  openTunnel,
  openTunnelWithEarlyMessage,
  openWebSocket,
  startWsBackend,
  type WsBackend,
  type WsClient,
} from '../helpers/websocket.js';

const pki = testPki();
const web1Cert = pki.selfSigned('web1');
const web2Cert = pki.selfSigned('web2');
const cleanups: Array<() => Promise<void>> = [];

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function wsBackend(name: 'web1' | 'web2'): Promise<WsBackend> {
  const backend = await startWsBackend(name, name === 'web1' ? web1Cert : web2Cert);
  cleanups.push(backend.close);
  return backend;
}

async function proxyTo(backends: readonly WsBackend[], options: ProxyOptions = {}): Promise<RunningLb> {
  const running = await startProxy(
    pki.front,
    backends.map((b) => ({ name: b.backend.name, address: b.address, trust: b.backend.name === 'web1' ? web1Cert : web2Cert })),
    options,
  );
  cleanups.push(() => running.close());
  return running;
}

function tunnel(running: RunningLb, headers?: Record<string, string>): Promise<WsClient> {
  return openTunnel({ port: running.port(), ca: pki.ca.cert, ...(headers ? { headers } : {}) });
}

function activeOf(running: RunningLb): number {
  return running.lb.backends.get('web')!.servers.reduce((sum, s) => sum + s.active, 0);
}

describe('websocket tunnel', () => {
  it('completes the handshake with the backend and round-trips messages both ways', async () => {
    const backend = await wsBackend('web1');
    const running = await proxyTo([backend]);
    const client = await tunnel(running);
    expect(client.status).toBe(101);
    expect(client.headers.upgrade?.toLowerCase()).toBe('websocket');
    expect(activeOf(running)).toBe(1);

    client.send('hello');
    expect(await client.next()).toBe('hello');
    // A longer message (16-bit length) and several in a row keep their order.
    const long = 'x'.repeat(3000);
    client.send(long);
    client.send('third');
    expect(await client.next()).toBe(long);
    expect(await client.next()).toBe('third');
    // The backend received the client's frames still masked: the tunnel does not reframe.
    expect(backend.received.map((f) => f.masked)).toEqual([true, true, true]);
    expect(backend.upgrades[0]!.url).toBe('/ws');

    client.sendClose();
    await client.closed;
    await waitFor(() => activeOf(running) === 0 && backend.openConnections() === 0, 5000, 'tunnel released');
    // One access line and one counted request for the tunnel, with the bytes it carried.
    await waitFor(() => running.logs.some((l) => l.msg === 'access'), 5000, 'access line');
    const access = running.logs.filter((l) => l.msg === 'access');
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({ status: 101, server: 'web1', path: '/ws', termination: 'normal' });
    expect(access[0]!.bytesIn as number).toBeGreaterThan(3000);
    expect(access[0]!.bytesOut as number).toBeGreaterThan(3000);
    expect(await running.lb.metrics.registry.getSingleMetricAsString('lb_requests_total')).toContain('code="101"} 1');
  });

  it('sends X-Forwarded-For to the backend and strips the persistence cookie, which picks the server', async () => {
    const web1 = await wsBackend('web1');
    const web2 = await wsBackend('web2');
    const running = await proxyTo([web1, web2], { backend: { cookie: { name: 'WEBSERVERID' } } });
    const client = await tunnel(running, { cookie: 'theme=dark; WEBSERVERID=web2; lang=fr' });
    client.send('ping');
    expect(await client.next()).toBe('ping');
    expect(web1.upgrades).toHaveLength(0);
    expect(web2.upgrades).toHaveLength(1);
    const seen = web2.upgrades[0]!.headers;
    expect(seen['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('https');
    expect(seen.cookie).toBe('theme=dark; lang=fr');
    expect(seen.cookie).not.toContain('WEBSERVERID');
    expect(seen['sec-websocket-version']).toBe('13');
    expect(seen.upgrade?.toLowerCase()).toBe('websocket');
    client.socket.destroy();
    await waitFor(() => activeOf(running) === 0 && web2.openConnections() === 0, 5000, 'tunnel released');
  });

  it('drops a client-sent X-Forwarded-For', async () => {
    const backend = await wsBackend('web1');
    const running = await proxyTo([backend]);
    const client = await tunnel(running, { 'x-forwarded-for': '203.0.113.9' });
    expect(backend.upgrades[0]!.headers['x-forwarded-for']).toBe('127.0.0.1');
    client.socket.destroy();
    await client.closed;
  });

  it('relays a backend that answers 403 instead of 101 as a 403 response with its body', async () => {
    const backend = await wsBackend('web1');
    backend.answer({ kind: 'reject', status: 403, body: 'origin not allowed\n' });
    const running = await proxyTo([backend]);
    const result = await openWebSocket({ port: running.port(), ca: pki.ca.cert });
    expect(result.kind).toBe('refused');
    if (result.kind !== 'refused') return;
    expect(result.status).toBe(403);
    expect(result.body).toBe('origin not allowed\n');
    expect(result.headers['content-type']).toBe('text/plain');
    expect(backend.upgrades).toHaveLength(1);
    await waitFor(() => activeOf(running) === 0, 5000, 'server released');
    // The balancer still tunnels the next one.
    backend.answer({ kind: 'accept' });
    const client = await tunnel(running);
    client.send('after');
    expect(await client.next()).toBe('after');
    client.socket.destroy();
    await client.closed;
  });

  it('relays a large refusal body whole, under backpressure', async () => {
    const backend = await wsBackend('web1');
    const body = 'no entry\n'.repeat(2 * 1024 * 1024); // 18 MiB: more than socket buffers hold
    backend.answer({ kind: 'reject', status: 403, body });
    const running = await proxyTo([backend]);
    const result = await within(openWebSocket({ port: running.port(), ca: pki.ca.cert }), 10_000, 'the whole body');
    expect(result.kind === 'refused' && result.status).toBe(403);
    expect(result.kind === 'refused' && result.body.length).toBe(body.length);
    await waitFor(() => activeOf(running) === 0, 5000, 'server released');
  });

  it('answers 502 when the backend cannot be reached', async () => {
    const backend = await wsBackend('web1');
    const running = await proxyTo([backend], { backend: { retries: 0 } });
    await backend.close();
    const result = await openWebSocket({ port: running.port(), ca: pki.ca.cert });
    expect(result.kind === 'refused' && result.status).toBe(502);
    await waitFor(() => activeOf(running) === 0, 5000, 'server released');
  });

  it('retries an upgrade whose server refuses the connection on the other server, as any request', async () => {
    const web1 = await wsBackend('web1');
    const web2 = await wsBackend('web2');
    const running = await proxyTo([web1, web2], { backend: { cookie: { name: 'WEBSERVERID' } } });
    await web1.close();
    // A cookie pins the first attempt to the dead server: the retry must redispatch.
    const client = await tunnel(running, { cookie: 'WEBSERVERID=web1' });
    expect(client.status).toBe(101);
    // The record is written when the tunnel closes.
    client.socket.destroy();
    await waitFor(() => running.logs.some((l) => l.msg === 'access'), 5000, 'tunnel record');
    expect(running.logs.find((l) => l.msg === 'access')).toMatchObject({
      server: 'web2',
      status: 101,
      retries: 1,
      redispatched: true,
      cookieIn: 'V',
      termination: 'normal',
    });
  });

  it('carries a message sent with the upgrade request, and one the server sends with its 101', async () => {
    const backend = await wsBackend('web1');
    backend.answer({ kind: 'accept', greeting: 'welcome' });
    const running = await proxyTo([backend]);
    const client = await openTunnelWithEarlyMessage({ port: running.port(), ca: pki.ca.cert, message: 'early bird' });
    expect(await client.next()).toBe('welcome');
    expect(await client.next()).toBe('early bird');
    client.send('later');
    expect(await client.next()).toBe('later');
    client.socket.destroy();
    await client.closed;
  });

  it('answers 504 when the backend does not answer the upgrade within timeouts.server', async () => {
    const backend = await wsBackend('web1');
    backend.answer({ kind: 'silent' });
    const running = await proxyTo([backend], { top: { timeouts: { server: '300ms' } }, backend: { retries: 0 } });
    const started = Date.now();
    const result = await openWebSocket({ port: running.port(), ca: pki.ca.cert });
    expect(result.kind === 'refused' && result.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(3000);
    await waitFor(() => activeOf(running) === 0 && backend.openUpgraded() === 0, 5000, 'server released');
  });

  it('frees the server and the backend connection when the client leaves before the backend answers', async () => {
    const backend = await wsBackend('web1');
    backend.answer({ kind: 'silent' });
    const running = await proxyTo([backend]);
    const socket = tls.connect({ host: '127.0.0.1', port: running.port(), ca: pki.ca.cert, servername: 'localhost' });
    socket.on('error', () => {});
    await once(socket, 'secureConnect');
    socket.write(
      'GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await waitFor(() => backend.upgrades.length === 1, 5000, 'upgrade at the backend');
    expect(activeOf(running)).toBe(1);
    socket.destroy();
    // (undici may open a fresh idle connection meanwhile: count the upgraded one only.)
    await waitFor(() => activeOf(running) === 0 && backend.openUpgraded() === 0, 2000, 'server released');
  });

  it('waits in the queue when the server is full, and tunnels once a slot frees', async () => {
    const backend = await wsBackend('web1');
    const running = await startProxy(pki.front, [{ name: 'web1', address: backend.address, trust: web1Cert, extra: { maxconn: 1 } }]);
    cleanups.push(() => running.close());
    const first = await tunnel(running);
    const second = tunnel(running);
    await waitFor(() => running.lb.backends.get('web')!.queued === 1, 5000, 'second tunnel queued');
    expect(backend.upgrades).toHaveLength(1);
    first.socket.destroy();
    const client = await second;
    client.send('my turn');
    expect(await client.next()).toBe('my turn');
    expect(activeOf(running)).toBe(1);
    client.socket.destroy();
    await waitFor(() => activeOf(running) === 0, 5000, 'server released');
  });

  it('closes open tunnels on both sides when the balancer is closed', async () => {
    const backend = await wsBackend('web1');
    const running = await proxyTo([backend]);
    const clients = await Promise.all([tunnel(running), tunnel(running), tunnel(running)]);
    expect(backend.openConnections()).toBe(3);
    await running.lb.close();
    await waitFor(() => clients.every((c) => c.isClosed()), 3000, 'clients closed');
    await waitFor(() => backend.openConnections() === 0 && activeOf(running) === 0, 5000, 'backend side closed');
  });

  it('closes an idle tunnel after timeouts.client, on both sides', async () => {
    const backend = await wsBackend('web1');
    const running = await proxyTo([backend], { top: { timeouts: { client: '300ms' } } });
    const client = await tunnel(running);
    client.send('last word');
    expect(await client.next()).toBe('last word');
    const idleSince = Date.now();
    await waitFor(() => client.isClosed(), 3000, 'idle tunnel closed');
    const idleMs = Date.now() - idleSince;
    expect(idleMs).toBeGreaterThanOrEqual(250);
    expect(idleMs).toBeLessThan(1500);
    await waitFor(() => activeOf(running) === 0 && backend.openConnections() === 0, 2000, 'both sides closed');
  });

  it('keeps a busy tunnel open past timeouts.client (the limit is idleness, not age)', async () => {
    const backend = await wsBackend('web1');
    const running = await proxyTo([backend], { top: { timeouts: { client: '300ms' } } });
    const client = await tunnel(running);
    const started = Date.now();
    let n = 0;
    // Each tick goes out as soon as the last one's echo is back: never idle for
    // timeouts.client, however slow the machine, yet open four times as long.
    while (Date.now() - started < 1200) {
      client.send(`tick ${n}`);
      expect(await client.next()).toBe(`tick ${n}`);
      n += 1;
    }
    expect(client.isClosed()).toBe(false);
    client.socket.destroy();
    await client.closed;
  });

  it('serves a GET asking for another protocol (Upgrade: h2c) as an ordinary request', async () => {
    const backend = await wsBackend('web1');
    const running = await proxyTo([backend], { plain: true });
    for (const port of [running.port('http'), running.port('https')]) {
      const out = await rawExchange(
        port,
        // `close` too, so the answer ends the exchange instead of the keep-alive idling to the timeout.
        'GET /plain HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
        port === running.port('https') ? pki.ca.cert : undefined,
        5000,
      );
      expect(out).toMatch(/^HTTP\/1\.1 200 /);
      expect(out).toContain('backend=web1 path=/plain');
    }
    expect(backend.upgrades).toHaveLength(0);
    const seen = backend.backend.requests.map((r) => r.headers);
    expect(seen).toHaveLength(2);
    for (const headers of seen) {
      expect(headers.upgrade).toBeUndefined();
      expect(headers['http2-settings']).toBeUndefined();
    }
    await waitFor(() => activeOf(running) === 0, 5000, 'server released');
  });

  it('leaves nothing behind after 1,000 tunnels opened and closed', async () => {
    const backend = await wsBackend('web1');
    const running = await proxyTo([backend]);
    // The agent only resumes TLS sessions (upgraded sockets are never pooled): faster handshakes.
    const agent = new https.Agent({ keepAlive: false, maxCachedSessions: 10 });
    const baseline = openSocketHandles();
    const batch = 10;
    for (let i = 0; i < 1000; i += batch) {
      await Promise.all(
        Array.from({ length: batch }, async (_, j) => {
          const client = await openTunnel({ port: running.port(), ca: pki.ca.cert, agent });
          const text = `m${i + j}`;
          client.send(text);
          expect(await client.next()).toBe(text);
          // Half are closed by the client, half by the server's answer to a close frame.
          if ((i + j) % 2 === 0) client.socket.destroy();
          else client.sendClose();
          await client.closed;
        }),
      );
    }
    expect(backend.upgrades).toHaveLength(1000);
    await waitFor(() => activeOf(running) === 0, 5000, 'server active count back to 0');
    await waitFor(() => backend.openConnections() === 0, 5000, 'backend connections closed');
    await waitFor(() => openSocketHandles() <= baseline, 5000, `socket handles back to ${baseline}`);
  }, 30_000);
});
