// Durations in the config file: integer milliseconds, or a number with a unit.

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, y: 365 * 86_400_000 } as const;

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|y)$/;

/**
 * Converts a config duration to milliseconds: an integer is already milliseconds,
 * a string is a number and a unit (`500ms`, `1.5s`, `2m`, `8h`, `1d`, `1y` = 365 days); anything
 * else, including a result that is not a whole number of milliseconds, throws.
 */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw new Error(`invalid duration ${String(value)}`);
  }
  const text = value.trim();
  const match = DURATION.exec(text);
  if (match === null) throw new Error(`invalid duration ${JSON.stringify(value)}`);
  const amount = Number(match[1]);
  const unit = match[2] as keyof typeof UNIT_MS;
  // Scale the decimal digits exactly: 1.1s * 1000 must be 1100, not 1100.0000000000002.
  const ms = Math.round(amount * UNIT_MS[unit] * 1e6) / 1e6;
  if (!Number.isSafeInteger(ms)) throw new Error(`invalid duration ${JSON.stringify(value)}`);
  return ms;
}

/** Formats milliseconds back into the shortest exact config duration (`1500ms`, `2s`, `1d`). */
export function formatDuration(ms: number): string {
  for (const unit of ['d', 'h', 'm', 's'] as const) {
    const size = UNIT_MS[unit];
    if (ms !== 0 && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}
