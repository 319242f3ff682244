// Slow start (HAProxy's `slowstart`, Envoy's slow start mode): a server that starts
// serving again (UP after DOWN, or out of MAINT) takes new clients by its weight times a
// fraction that grows linearly with the time since, reaching 1 after the backend's
// `slowStart`. The fraction never starts at 0: the server is used at once, a little, so
// live traffic sees straight away whether it really works. Pure: the caller reads the clock.

/** Milliseconds from an arbitrary origin that never goes back (performance.now); injectable for tests. */
export type MonotonicClock = () => number;

/** The process's monotonic clock: a wall-clock step (NTP, an operator) cannot stretch or end a ramp. */
export const monotonicClock: MonotonicClock = () => performance.now();

/** The smallest share of its weight a ramping server gets (Envoy's MinWeightPercent, 10 % there). */
export const SLOW_START_MIN_FRACTION = 0.05;

/**
 * The share of its weight a server has `elapsedMs` into a ramp of `durationMs`:
 * elapsed/duration, at least SLOW_START_MIN_FRACTION, and 1 once the ramp is over
 * (or when there is none: a duration of 0).
 */
export function slowStartFraction(elapsedMs: number, durationMs: number): number {
  if (!(durationMs > 0) || elapsedMs >= durationMs) return 1;
  const linear = elapsedMs / durationMs;
  // `>` is false for NaN too: a clock gone wrong ramps from the bottom, not the top.
  return linear > SLOW_START_MIN_FRACTION ? linear : SLOW_START_MIN_FRACTION;
}
