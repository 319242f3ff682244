// Runs the built command line (`node dist/lb.js`) as a child process: one-shot runs
// with their output, and long-running ones whose JSON log lines are collected.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Absolute path of the built CLI; `npm test` runs tsc first. */
export const CLI_PATH = fileURLToPath(new URL('../../dist/lb.js', import.meta.url));

export interface CliExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

function assertBuilt(): void {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run "npm run build" first`);
}

/** Runs the CLI to completion; kills it and fails after `timeoutMs`. */
export function runCli(args: readonly string[], cwd: string, timeoutMs = 10_000): Promise<CliExit & { readonly elapsedMs: number }> {
  assertBuilt();
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_PATH, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`CLI still running after ${timeoutMs}ms; stdout: ${stdout} stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, elapsedMs: Date.now() - started });
    });
  });
}

/** A CLI process left running, with its stdout parsed as JSON lines. */
export interface RunningCli {
  readonly child: ChildProcess;
  /** Parsed stdout lines, in order (non-JSON lines are kept as `{ raw }`). */
  readonly lines: Record<string, unknown>[];
  stderr(): string;
  /** Resolves with the first line (already seen or to come) that `match` accepts. */
  waitForLine(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number, what?: string): Promise<Record<string, unknown>>;
  readonly exited: Promise<CliExit>;
  /** SIGKILL if still running (test cleanup). */
  kill(): Promise<void>;
}

/** Starts the CLI and keeps it running. */
export function startCli(args: readonly string[], cwd: string): RunningCli {
  assertBuilt();
  return startProcess(process.execPath, [CLI_PATH, ...args], cwd);
}

/** Starts any long-running command the way startCli does (the HA test runs its children through `ip netns exec`). */
export function startProcess(command: string, args: readonly string[], cwd: string): RunningCli {
  const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  const watchers = new Set<() => void>();
  let stdout = '';
  let partial = '';
  let stderr = '';
  let done = false;
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
    partial += c.toString();
    const complete = partial.split('\n');
    partial = complete.pop()!;
    for (const line of complete) {
      if (!line) continue;
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ raw: line });
      }
    }
    for (const watcher of watchers) watcher();
  });
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  // A command that cannot start (ENOENT) still closes; its reason goes where stderr goes.
  child.on('error', (err) => (stderr += `${err.message}\n`));
  const exited = new Promise<CliExit>((resolve) =>
    child.on('close', (code, signal) => {
      done = true;
      for (const watcher of watchers) watcher();
      resolve({ code, signal, stdout, stderr });
    }),
  );
  return {
    child,
    lines,
    stderr: () => stderr,
    waitForLine(match, timeoutMs = 10_000, what = 'a log line') {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(match);
          if (found) {
            finish();
            resolve(found);
          } else if (done) {
            finish();
            reject(new Error(`CLI exited before ${what}; stderr: ${stderr}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`timed out waiting for ${what}; stdout: ${stdout} stderr: ${stderr}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          watchers.delete(check);
        };
        watchers.add(check);
        check();
      });
    },
    exited,
    async kill() {
      if (!done) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}
