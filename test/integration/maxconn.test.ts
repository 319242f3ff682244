// Global maxconn: connections past the limit wait, unread, and are served once a slot
// frees; they are never reset.
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend } from '../helpers/backend.js';
import { startProxy } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { once, waitFor } from '../helpers/wait.js';

const pki = testPki();
const cert = pki.selfSigned('web1');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

function connect(port: number) {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: pki.ca.cert, servername: 'localhost' });
  const state = { tcp: false, secure: false, error: null as Error | null, socket };
  socket.once('connect', () => (state.tcp = true));
  socket.once('secureConnect', () => (state.secure = true));
  socket.on('error', (err: Error) => (state.error = err));
  return state;
}

describe('global maxconn', () => {
  it('holds the connection past the limit until one closes, then serves it', async () => {
    const backend = await startBackend({ name: 'web1', tls: cert });
    cleanups.push(() => backend.close());
    const running = await startProxy(pki.front, [{ name: 'web1', address: backend.address, trust: cert }], { top: { maxconn: 2 } });
    cleanups.push(() => running.close());

    const first = connect(running.port());
    const second = connect(running.port());
    await waitFor(() => first.secure && second.secure, 5000, 'two served connections');
    const third = connect(running.port());
    await waitFor(() => third.tcp, 5000, 'third accepted by the kernel');
    // A round trip on a served connection: by its answer the balancer has taken the third
    // off the listen queue (the gate decides synchronously on accept), so an open gate
    // would have counted it by now. Held: not counted, no handshake, not reset.
    first.socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    const [answer] = (await once(first.socket, 'data', 5000, 'an answer on the first connection')) as [Buffer];
    expect(answer.toString()).toMatch(/^HTTP\/1\.1 200 /);
    expect(running.lb.frontendStats.connections('https')).toBe(2);
    expect(third.secure).toBe(false);
    expect(third.error).toBeNull();

    first.socket.destroy();
    await waitFor(() => third.secure, 5000, 'third served after a slot freed');
    third.socket.write('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    const reply = await new Promise<string>((resolve) => {
      let text = '';
      third.socket.on('data', (c: Buffer) => (text += c.toString()));
      third.socket.on('close', () => resolve(text));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 200 /);
    second.socket.destroy();
  });
});
