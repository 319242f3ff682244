// Child processes of a bench run: started with their output in files or a pipe,
// remembered by PID, and stopped by PID (SIGTERM, then SIGKILL) at the end, on
// SIGINT and on errors. Also the waits the runner needs: a line in a file, a port.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** Every child still running, by PID. */
const running = new Map();
/** Things to stop on an abort besides processes (load loops in flight). */
const stoppers = new Set();

/**
 * Starts `command args`; stdout goes to `stdoutFile` (appended, so it never blocks the
 * child on a pipe) or to a pipe when `stdoutFile` is 'pipe'; stderr to `stderrFile`.
 */
export function startProcess(name, command, args, { stdoutFile, stderrFile, cwd, env } = {}) {
  const out = stdoutFile && stdoutFile !== 'pipe' ? openSync(stdoutFile, 'a') : null;
  const err = stderrFile ? openSync(stderrFile, 'a') : null;
  const child = spawn(command, args, {
    cwd,
    env: env ?? process.env,
    stdio: ['ignore', out ?? (stdoutFile === 'pipe' ? 'pipe' : 'ignore'), err ?? 'ignore'],
  });
  if (out !== null) closeSync(out);
  if (err !== null) closeSync(err);
  const proc = {
    name,
    child,
    pid: child.pid,
    stdoutFile: stdoutFile === 'pipe' ? null : stdoutFile,
    stderrFile,
    exited: null,
    exitPromise: null,
  };
  proc.exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      proc.exited = { code, signal };
      running.delete(child.pid);
      resolve(proc.exited);
    });
    child.once('error', (error) => {
      proc.exited = { code: null, signal: null, error: error.message };
      running.delete(child.pid);
      resolve(proc.exited);
    });
  });
  if (child.pid !== undefined) running.set(child.pid, proc);
  return proc;
}

/** Stops one process by its PID: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(proc, graceMs = 5000) {
  if (!proc || proc.exited || proc.pid === undefined) return proc?.exited ?? null;
  try {
    process.kill(proc.pid, 'SIGTERM');
  } catch {
    // Already gone.
  }
  const timer = sleep(graceMs).then(() => 'timeout');
  if ((await Promise.race([proc.exitPromise, timer])) === 'timeout') {
    try {
      process.kill(proc.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
    await Promise.race([proc.exitPromise, sleep(2000)]);
  }
  return proc.exited;
}

/** Stops every child still running, in parallel, each by its PID. */
export async function stopAll() {
  for (const stop of stoppers) {
    try {
      stop();
    } catch {
      // Best effort.
    }
  }
  await Promise.all([...running.values()].map((proc) => stopProcess(proc, 3000)));
}

/** Last resort from a synchronous 'exit' handler: SIGKILL by PID. */
export function killAllSync() {
  for (const pid of running.keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

/** Registers a function that aborts a load loop; returns its unregister function. */
export function registerStopper(stop) {
  stoppers.add(stop);
  return () => stoppers.delete(stop);
}

/** The text of a file, or '' when it cannot be read. */
export function readText(file) {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** The last `n` lines of a file, for error messages. */
export function tail(file, n = 10) {
  return readText(file).trimEnd().split('\n').slice(-n).join('\n');
}

/**
 * Polls `file` until `found(text)` returns a value, the process exits, or `timeoutMs`
 * passes (then throws with the file's tail).
 */
export async function waitForFile(proc, file, found, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const value = found(readText(file));
    if (value) return value;
    if (proc.exited) throw new Error(`${proc.name} exited (${JSON.stringify(proc.exited)}):\n${tail(proc.stderrFile)}\n${tail(file)}`);
    await sleep(50);
  }
  throw new Error(`${proc.name}: timed out waiting for its output:\n${tail(proc.stderrFile)}\n${tail(file)}`);
}

/** The first line a piped child prints on stdout, parsed as JSON (bounded in time). */
export function readFirstJsonLine(proc, timeoutMs = 20_000) {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => done(new Error(`${proc.name}: no output in ${timeoutMs} ms\n${tail(proc.stderrFile)}`)), timeoutMs);
    const onData = (chunk) => {
      text += chunk.toString();
      const nl = text.indexOf('\n');
      if (nl >= 0) {
        try {
          done(null, JSON.parse(text.slice(0, nl)));
        } catch (err) {
          done(err);
        }
      }
    };
    const onExit = () => done(new Error(`${proc.name} exited before it was ready:\n${tail(proc.stderrFile)}`));
    function done(err, value) {
      clearTimeout(timer);
      proc.child.stdout.off('data', onData);
      proc.child.off('exit', onExit);
      // Keep draining the pipe so that a later write can never block the child.
      proc.child.stdout.resume();
      if (err) reject(err);
      else resolve(value);
    }
    proc.child.stdout.on('data', onData);
    proc.child.once('exit', onExit);
  });
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(proc, port, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exited) throw new Error(`${proc.name} exited (${JSON.stringify(proc.exited)}):\n${tail(proc.stderrFile)}`);
    const ok = await new Promise((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${proc.name}: port ${port} not open after ${timeoutMs} ms\n${tail(proc.stderrFile)}`);
}

/**
 * A port that was free a moment ago, for programs that cannot report the port they
 * bound (HAProxy). Everything of ours that can listens on port 0 instead.
 */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
