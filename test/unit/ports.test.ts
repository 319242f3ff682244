// The test helper that picks ports for processes binding their own: below the kernel's
// ephemeral range (so no other process's listen(0) takes them first), free, and not
// handed out twice.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { closedAddress, freePort } from '../helpers/ports.js';

const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);

describe('freePort', () => {
  it('gives ports below the ephemeral range that can be bound', async () => {
    const ports = [await freePort(), await freePort(), await freePort()];
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(ephemeralLow);
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', resolve);
      });
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('does not hand out a port again before it has walked its whole slice', async () => {
    // Pebble takes six before it binds any: one handed out twice and Pebble cannot start.
    const ports: number[] = [];
    for (let i = 0; i < 200; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(ports.length);
  });

  it('gives an address that refuses connections', async () => {
    const [host, port] = (await closedAddress()).split(':');
    const refused = await new Promise<string>((resolve) => {
      const socket = net.connect(Number(port), host);
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
  });
});
