// Waiting in tests, always with a deadline: poll a condition, await a promise, or
// await an event. A deadline only bounds a failure (each returns as soon as its
// condition holds), so the defaults are generous enough for a loaded 2-core machine.
import { once as nextEvent, type EventEmitter } from 'node:events';

/** The failure bound when a caller names none. */
export const DEFAULT_DEADLINE_MS = 10_000;

/** Between two polls: short, so a condition is seen soon after it holds. */
const POLL_MS = 20;

/** What a wait is for, in its failure message: a function is asked at the failure (a process's output so far, say). */
export type Waited = string | (() => string);

/** Polls `probe` until it returns true; fails after `timeoutMs`. A probe that throws fails the wait at once. */
export async function waitFor(
  probe: () => boolean | Promise<boolean>,
  timeoutMs = DEFAULT_DEADLINE_MS,
  what: Waited = 'condition',
): Promise<void> {
  await waitForValue(async () => ((await probe()) ? true : undefined), timeoutMs, what);
}

/** Polls `probe` until it returns something other than undefined, and resolves with it; fails after `timeoutMs`. */
export async function waitForValue<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = DEFAULT_DEADLINE_MS,
  what: Waited = 'a value',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs}ms waiting for ${typeof what === 'function' ? what() : what}`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** `promise`, or a failure after `timeoutMs`: a stalled step fails fast, saying what it waited for. */
export function within<T>(promise: Promise<T>, timeoutMs = DEFAULT_DEADLINE_MS, what = 'a result'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs}ms waiting for ${what}`)), timeoutMs);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/**
 * The arguments of `emitter`'s next `event`; fails on an 'error' event first (as
 * events.once does) or after `timeoutMs`.
 */
export async function once(emitter: EventEmitter, event: string, timeoutMs = DEFAULT_DEADLINE_MS, what = `'${event}'`): Promise<unknown[]> {
  const abort = new AbortController();
  try {
    return await within<unknown[]>(nextEvent(emitter, event, { signal: abort.signal }), timeoutMs, what);
  } finally {
    // Removes the listener when the deadline won.
    abort.abort();
  }
}
