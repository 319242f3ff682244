// The HA test's network: a client, lb1, lb2 and a backends namespace, each with an
// eth0 on one bridge. The bridge lives in a fifth, "switch" namespace, so nothing is
// added to the host's own namespace. Addresses come from 198.18.0.0/15 (RFC 2544,
// reserved for benchmarking); names carry the test's PID so parallel runs never meet.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { waitFor } from '../helpers/wait.js';

/** The address keepalived floats between lb1 and lb2. */
export const VIRTUAL_ADDRESS = '198.18.0.100';

/** Each host's addresses on the bridge (/24), as in examples/keepalived/ and docs/ha.md. */
export const HOSTS = {
  client: ['198.18.0.10'],
  lb1: ['198.18.0.11'],
  lb2: ['198.18.0.12'],
  backends: ['198.18.0.21', '198.18.0.22'],
} as const;

export type Host = keyof typeof HOSTS;

const PREFIX = 'doorman-ha-';
const OWNED = /^doorman-ha-(\d+)-/;

/** The absolute path of an executable, looking in PATH and the sbin folders root has. */
export function findCommand(name: string): string | undefined {
  const folders = [...(process.env.PATH ?? '').split(delimiter), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const folder of folders) {
    if (!folder) continue;
    const candidate = join(folder, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Runs a command to completion; rejects with its stderr. */
export function run(command: string, args: readonly string[], timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${command} ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/** Runs `ip ARGS`. */
export function ip(...args: string[]): Promise<string> {
  return run(findCommand('ip') ?? 'ip', args);
}

/** Why network namespaces cannot be made here, or undefined when they can (probed by adding one). */
export async function namespaceProblem(): Promise<string | undefined> {
  if (!findCommand('ip')) return 'the ip command (iproute2) is not installed';
  if (process.getuid?.() !== 0) return 'not root';
  const probe = `${PREFIX}${process.pid}-probe`;
  try {
    await ip('netns', 'add', probe);
  } catch (err) {
    return (err as Error).message;
  }
  await ip('netns', 'del', probe);
  return undefined;
}

async function namespaces(): Promise<string[]> {
  // Lines are "NAME" or "NAME (id: N)".
  return (await ip('netns', 'list'))
    .split('\n')
    .map((line) => line.split(' ')[0]!)
    .filter(Boolean);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Kills what still runs inside a namespace (by PID: only this test's children and
 * theirs, such as keepalived's VRRP process, ever run there), then deletes it.
 */
async function removeNamespace(name: string): Promise<void> {
  let survivors: number[] = [];
  // SIGKILL lands asynchronously: kill what is listed until the list comes back empty.
  await waitFor(
    async () => {
      survivors = [];
      const pids = (await ip('netns', 'pids', name)).split('\n').filter(Boolean).map(Number);
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      survivors = pids;
      return pids.length === 0;
    },
    5_000,
    `namespace ${name} to empty`,
  ).catch((err: unknown) => {
    throw survivors.length > 0 ? new Error(`namespace ${name}: processes ${survivors.join(', ')} survive SIGKILL`, { cause: err }) : err;
  });
  await ip('netns', 'del', name);
}

/**
 * Removes the namespaces of earlier runs whose test process is gone (a crash or a
 * SIGKILL skipped their cleanup). A run still alive keeps its namespaces.
 */
export async function removeStaleLabs(): Promise<string[]> {
  const stale = (await namespaces()).filter((name) => {
    const owner = OWNED.exec(name);
    return owner !== null && Number(owner[1]) !== process.pid && !isRunning(Number(owner[1]));
  });
  for (const name of stale) await removeNamespace(name);
  return stale;
}

/** A running lab: its namespace names, and how to run a command in one. */
export interface Lab {
  /** The namespace of a host, e.g. doorman-ha-1234-lb1. */
  namespace(host: Host): string;
  /** The command line that runs `argv` inside a host's namespace. */
  inside(host: Host, argv: readonly string[]): { command: string; args: string[] };
  /** Kills what runs inside and deletes every namespace; safe to call twice. */
  remove(): Promise<void>;
}

/** Creates the namespaces, the bridge and one veth pair per host; on any error removes what it made. */
export async function createLab(): Promise<Lab> {
  const base = `${PREFIX}${process.pid}`;
  const switchNs = `${base}-switch`;
  const hosts = Object.keys(HOSTS) as Host[];
  const namespace = (host: Host) => `${base}-${host}`;
  const created: string[] = [];
  const ipPath = findCommand('ip') ?? 'ip';

  const lab: Lab = {
    namespace,
    inside: (host, argv) => ({ command: ipPath, args: ['netns', 'exec', namespace(host), ...argv] }),
    async remove() {
      const problems: string[] = [];
      while (created.length > 0) {
        const name = created.pop()!;
        await removeNamespace(name).catch((err: unknown) => problems.push(String(err)));
      }
      if (problems.length > 0) throw new Error(problems.join('\n'));
    },
  };

  try {
    await ip('netns', 'add', switchNs);
    created.push(switchNs);
    await ip('-n', switchNs, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', switchNs, 'link', 'set', 'br0', 'up');
    for (const host of hosts) {
      const ns = namespace(host);
      await ip('netns', 'add', ns);
      created.push(ns);
      // The veth is made in the switch namespace and its far end moved into the host's:
      // neither end ever exists in the root namespace.
      await ip('-n', switchNs, 'link', 'add', `v-${host}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
      await ip('-n', switchNs, 'link', 'set', `v-${host}`, 'master', 'br0', 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      for (const address of HOSTS[host]) await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      await ip('-n', ns, 'link', 'set', 'eth0', 'up');
    }
  } catch (err) {
    await lab.remove().catch(() => {});
    throw err;
  }
  return lab;
}
