// The idle heap trim: when it collects (a table of ticks), and that V8 really gives
// its young generation back once the process is quiet (this test's own heap).
import { Writable } from 'node:stream';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_HEAP_TRIM,
  INITIAL_TRIM_STATE,
  decideTrim,
  startHeapTrim,
  youngGenerationBytes,
  type TrimState,
} from '../../src/heap-trim.js';

const options = { ...DEFAULT_HEAP_TRIM, quietTicks: 3, quietCpuMs: 20, grownBytes: 8 << 20, maxTries: 2 };
const GROWN = 32 << 20;
const SMALL = 1 << 20;

/** Runs ticks of [cpuMs, youngBytes] from the initial state; returns which ticks collected. */
function run(ticks: ReadonlyArray<readonly [number, number]>): boolean[] {
  let state: TrimState = INITIAL_TRIM_STATE;
  return ticks.map(([cpu, young]) => {
    const step = decideTrim(state, cpu, young, options);
    state = step.state;
    return step.collect;
  });
}

describe('decideTrim', () => {
  it('collects only after quietTicks quiet ticks in a row, while the young generation is grown', () => {
    expect(
      run([
        [1, GROWN],
        [1, GROWN],
        [1, GROWN],
      ]),
    ).toEqual([false, false, true]);
    expect(
      run([
        [1, SMALL],
        [1, SMALL],
        [1, SMALL],
        [1, SMALL],
      ]),
    ).toEqual([false, false, false, false]);
  });

  it('starts counting again after a busy tick', () => {
    expect(
      run([
        [1, GROWN],
        [1, GROWN],
        [50, GROWN],
        [1, GROWN],
        [1, GROWN],
        [1, GROWN],
      ]),
    ).toEqual([false, false, false, false, false, true]);
  });

  it('asks at most maxTries times per quiet stretch (every other tick), and again after the process was busy', () => {
    const quiet = (n: number) => Array.from({ length: n }, () => [1, GROWN] as const);
    expect(run([...quiet(8)])).toEqual([false, false, true, false, true, false, false, false]);
    expect(run([...quiet(6), [20, GROWN], ...quiet(3)])).toEqual([false, false, true, false, true, false, false, false, false, true]);
  });

  it('does not count the tick after a collection as busy: its GC work is ours, and the cap holds', () => {
    const busy = [50, GROWN] as const;
    const quiet = [1, GROWN] as const;
    expect(run([quiet, quiet, quiet, busy, quiet, busy, quiet, quiet, quiet])).toEqual([
      false,
      false,
      true,
      false,
      true,
      false,
      false,
      false,
      false,
    ]);
  });

  it('stops once the young generation is small, and collects again if it grows back', () => {
    expect(
      run([
        [1, GROWN],
        [1, GROWN],
        [1, GROWN],
        [1, SMALL],
        [1, GROWN],
      ]),
    ).toEqual([false, false, true, false, true]);
  });
});

/** Grows this process's young generation the way a loaded proxy does: many short-lived objects, some surviving a while. */
function growYoungGeneration(minBytes: number, deadlineMs: number): number {
  const ring: unknown[] = new Array(100_000);
  const until = Date.now() + deadlineMs;
  let i = 0;
  while (youngGenerationBytes() <= minBytes && Date.now() < until) {
    for (let k = 0; k < 10_000; k++, i++) ring[i % ring.length] = { i, text: `request ${i}`, parts: [i, i + 1] };
  }
  return youngGenerationBytes();
}

describe('startHeapTrim', () => {
  it('gives the grown young generation back once the process is quiet', { timeout: 60_000 }, async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'debug' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const grown = growYoungGeneration(20 << 20, 15_000);
    expect(grown).toBeGreaterThan(20 << 20);

    const trim = startHeapTrim(logger, { ...DEFAULT_HEAP_TRIM, tickMs: 200, quietTicks: 2, maxTries: 100 });
    try {
      const deadline = Date.now() + 20_000;
      const trimmed = () => lines.some((line) => line.includes('"msg":"heap trimmed"'));
      while (!trimmed() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(trimmed()).toBe(true);
      expect(youngGenerationBytes()).toBeLessThanOrEqual(8 << 20);
      // gc() was borrowed for the trim only: contexts made now do not get it.
      expect(runInNewContext('typeof gc')).toBe('undefined');
    } finally {
      trim.stop();
    }
  });
});
