// Doorman's own HTTP/1.1 engine behind the whole balancer, over TLS: pipelined requests
// answered in order, a chunked request body decoded for the server, a half-closed
// client still answered, and a bad chunk closing the connection with nothing smuggled.
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { startBackend } from '../helpers/backend.js';
import { rawExchange } from '../helpers/client.js';
import { startProxy } from '../helpers/lb.js';
import { testPki } from '../helpers/pki.js';
import { waitFor } from '../helpers/wait.js';

const pki = testPki();
const cert = pki.selfSigned('web1');
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup() {
  const backend = await startBackend({ name: 'web1', tls: cert });
  cleanups.push(() => backend.close());
  const running = await startProxy(pki.front, [{ name: 'web1', address: backend.address, trust: cert }]);
  cleanups.push(() => running.close());
  return { backend, running };
}

describe('the own HTTP/1.1 engine behind the balancer', () => {
  it('answers three pipelined requests in order, the last closing the connection', async () => {
    const { running } = await setup();
    const out = await rawExchange(
      running.port(),
      'GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      pki.ca.cert,
    );
    expect([...out.matchAll(/path=(\/\d)/g)].map((m) => m[1])).toEqual(['/1', '/2', '/3']);
    expect(out.match(/^HTTP\/1\.1 200 /gm)).toHaveLength(3);
  });

  it('forwards a chunked request body decoded, then reads the next request', async () => {
    const { running, backend } = await setup();
    const out = await rawExchange(
      running.port(),
      'POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nGET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n',
      pki.ca.cert,
    );
    expect(out.match(/^HTTP\/1\.1 200 /gm)).toHaveLength(2);
    expect(backend.requests.map((r) => [r.url, r.body])).toEqual([
      ['/up', 'hello world'],
      ['/next', ''],
    ]);
  });

  it('closes on a bad chunk and forwards nothing past it', async () => {
    const { running, backend } = await setup();
    const out = await rawExchange(
      running.port(),
      'POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n',
      pki.ca.cert,
    );
    expect(out).toMatch(/^HTTP\/1\.1 400 /);
    expect(backend.requests.map((r) => r.url)).not.toContain('/smuggled');
  });

  it('answers a client that half-closed after its request', async () => {
    const { running } = await setup();
    const socket = tls.connect({ host: '127.0.0.1', port: running.port(), ca: pki.ca.cert, servername: 'localhost' });
    let received = '';
    let closed = false;
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => {});
    socket.on('close', () => (closed = true));
    socket.once('secureConnect', () => socket.end('GET /half HTTP/1.1\r\nHost: a\r\n\r\n'));
    await waitFor(() => closed, 5000, 'the connection to close');
    expect(received).toMatch(/^HTTP\/1\.1 200 /);
    expect(received).toContain('path=/half');
  });
});
