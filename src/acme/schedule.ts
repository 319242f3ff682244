// When to renew and when to retry: pure decisions over a certificate's validity, the
// operator's renewBefore, the CA's ARI window and a random draw (the jitter that keeps
// many balancers from ordering in the same second).

/** The parts of a certificate the schedule reads, in epoch milliseconds. */
export interface Validity {
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/** At most this much jitter moves a renewal earlier (and at most a twentieth of the lifetime). */
const MAX_JITTER_MS = 4 * 3_600_000;

/**
 * When to renew: inside the CA's ARI window when there is one (a uniform draw in it, as
 * RFC 9773 §4.2 asks), else `renewBeforeMs` before expiry, else when a third of the
 * lifetime is left; the last two moved earlier by up to min(lifetime / 20, 4 h).
 * `random` is in [0, 1).
 */
export function renewalTime(
  validity: Validity,
  renewBeforeMs: number | null,
  window: { startMs: number; endMs: number } | null,
  random: number,
): number {
  if (window) return window.startMs + Math.floor((window.endMs - window.startMs) * random);
  const lifetimeMs = Math.max(0, validity.notAfterMs - validity.notBeforeMs);
  const due = validity.notAfterMs - (renewBeforeMs ?? Math.floor(lifetimeMs / 3));
  return due - Math.floor(Math.min(lifetimeMs / 20, MAX_JITTER_MS) * random);
}

/** The wait before retry number `failures` (1 = after the first failure): doubling from min to max, plus up to 10 % jitter. */
export function backoffDelay(failures: number, minMs: number, maxMs: number, random: number): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.min(maxMs, Math.floor(base * (1 + random / 10)));
}
