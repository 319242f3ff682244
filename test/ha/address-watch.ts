// Follows one namespace's addresses with `ip monitor address` (kernel events, no
// polling) and records when an address arrives and leaves: the switch timings.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { findCommand, ip } from './lab.js';

/** Whether a namespace holds the address, and since when. */
export interface AddressWatch {
  readonly present: boolean;
  /** Resolves with the time (epoch ms) the address became present/absent, at once if it already is. */
  until(present: boolean, timeoutMs: number): Promise<number>;
  close(): Promise<void>;
}

/** Starts watching `address` in namespace `ns`. */
export async function watchAddress(ns: string, address: string): Promise<AddressWatch> {
  const ipPath = findCommand('ip') ?? 'ip';
  // -o: one line per event; a removal starts with "Deleted".
  const monitor = spawn(ipPath, ['-o', '-n', ns, 'monitor', 'address'], { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise<void>((resolve) => monitor.once('close', () => resolve()));
  const mentions = (line: string) => line.includes(` inet ${address}/`);
  let present = false;
  let since = Date.now();
  let sawEvent = false;
  const waiters = new Set<() => void>();
  const set = (now: boolean) => {
    if (now === present) return;
    present = now;
    since = Date.now();
    for (const waiter of waiters) waiter();
  };
  createInterface({ input: monitor.stdout }).on('line', (line) => {
    if (!mentions(line)) return;
    sawEvent = true;
    set(!line.startsWith('Deleted'));
  });
  // The state before the first event (the monitor is running from here on).
  const current = mentions(await ip('-o', '-n', ns, 'addr', 'show'));
  if (!sawEvent) set(current);

  return {
    get present() {
      return present;
    },
    until(wanted, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (present !== wanted) return;
          finish();
          resolve(since);
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`${address} still ${present ? 'present' : 'absent'} in ${ns} after ${timeoutMs} ms`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async close() {
      monitor.kill('SIGKILL');
      await exited;
    },
  };
}
