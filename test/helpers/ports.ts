// Ports chosen before anything binds them: for a process that binds its own (Pebble, a
// Doorman config written before it starts) and for a server address that must refuse
// connections. A port from listen(0), released at once, lies in the kernel's ephemeral
// range: until its consumer binds it, another test process's listen(0) may be handed the
// same port (the bind then fails with EADDRINUSE), and a "closed" one may be answered by
// whatever took it. The kernel hands out ports below that range to nobody, so only an
// explicit bind can take them; each vitest worker draws from its own slice, so two test
// files running at once never draw the same port.
import { readFileSync } from 'node:fs';
import net from 'node:net';

const FLOOR = 10_000;
const SLICES = 16;

/** The lowest port the kernel hands out for connect() and listen(0) (Linux's default when unknown). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    if (Number.isInteger(low)) return low;
  } catch {
    // not Linux: its default range starts higher than ours ends
  }
  return 32_768;
}

/** This worker's ports: [from, to). */
function slice(): { from: number; to: number } | null {
  const low = ephemeralLow();
  const size = Math.floor((low - FLOOR) / SLICES);
  if (size < 100) return null;
  const index = (Number(process.env.VITEST_POOL_ID ?? '1') - 1) % SLICES;
  return { from: FLOOR + index * size, to: FLOOR + (index + 1) * size };
}

const range = slice();
/**
 * The next port to try: the slice is walked in order from a random start, so ports
 * handed out but not yet bound (Pebble's six, say) are never handed out again before
 * the walk wraps around.
 */
let cursor = range ? Math.floor(Math.random() * (range.to - range.from)) : 0;

/** Binds 127.0.0.1:`port` and releases it: null when something holds it. */
async function tryPort(port: number): Promise<number | null> {
  const server = net.createServer();
  const bound = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!bound) return null;
  const { port: taken } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return taken;
}

/** A loopback port, free now, that no other process's listen(0) can take before its consumer binds it. */
export async function freePort(): Promise<number> {
  if (range) {
    const size = range.to - range.from;
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = range.from + (cursor++ % size);
      if ((await tryPort(port)) !== null) return port;
    }
  }
  // A machine whose ephemeral range starts low: the kernel's choice, with its small risk.
  const port = await tryPort(0);
  if (port === null) throw new Error('no free loopback port');
  return port;
}

/** An address nothing listens on: connections to it are refused. */
export async function closedAddress(): Promise<string> {
  return `127.0.0.1:${await freePort()}`;
}
