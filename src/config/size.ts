// Byte sizes in the config: integers (bytes) or strings such as `16KiB`, `64KiB`, `1MiB`.

const UNIT_BYTES: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 * 1024, KB: 1000, MB: 1000 * 1000 };

/** Bytes of `value`; throws with the reason on a malformed one. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error('expected a non-negative integer number of bytes');
    return value;
  }
  const match = /^(\d+)\s*(B|KiB|MiB|KB|MB)?$/.exec(value.trim());
  if (!match) throw new Error(`expected a size such as 64KiB, got "${value}"`);
  return Number(match[1]) * UNIT_BYTES[match[2] ?? 'B']!;
}
