// Gives V8's grown heap back to the system once the process goes quiet.
//
// Under load V8 grows its young generation to its maximum (32 MB on Node 20, 128 MB
// on Node 24 with enough memory) and keeps it committed: it only shrinks it inside a
// garbage collection, and an idle proxy allocates nothing, so no collection comes.
// A balancer spends most of its life idle with keep-alive connections open; there the
// young generation was a quarter of its resident memory. So, after a few quiet seconds,
// we ask for a memory-reducing full collection (V8's "last resort" flavour on Node 22
// and later; on Node 20 a plain one, which shrinks once V8 sees its allocation rate
// fall, a few seconds later), as browsers' memory reducers do when a tab goes idle.
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';

/** V8's gc() extension: `gc({ type: 'major', flavor: 'last-resort' })` (flavor from V8 12). */
type Collect = (options?: { type?: 'minor' | 'major'; flavor?: 'regular' | 'last-resort' }) => void;

export interface HeapTrimOptions {
  /** How often the process is looked at. */
  readonly tickMs: number;
  /** Quiet ticks in a row before the first collection. */
  readonly quietTicks: number;
  /** CPU time per tick (ms) below which the process counts as quiet. */
  readonly quietCpuMs: number;
  /** A young generation above this many bytes is worth giving back. */
  readonly grownBytes: number;
  /** Collections per quiet stretch at most: a V8 that never shrinks is not asked forever. */
  readonly maxTries: number;
}

export const DEFAULT_HEAP_TRIM: HeapTrimOptions = {
  tickMs: 1000,
  quietTicks: 3,
  // 2 % of a core: health checks and a trickle of requests still count as quiet.
  quietCpuMs: 20,
  // V8 starts it at 1 MB; a thousand TLS handshakes alone grow it to 8.
  grownBytes: 2 * 1024 * 1024,
  maxTries: 10,
};

/** What the trimmer remembers between ticks. */
export interface TrimState {
  readonly quiet: number;
  readonly tries: number;
  /** The last tick collected: V8's GC threads may still be sweeping, on our CPU clock. */
  readonly collected: boolean;
}

export const INITIAL_TRIM_STATE: TrimState = { quiet: 0, tries: 0, collected: false };

/** One tick's decision from the CPU the process used and the young generation's size. */
export function decideTrim(
  state: TrimState,
  cpuMs: number,
  youngBytes: number,
  options: HeapTrimOptions,
): { state: TrimState; collect: boolean } {
  // The tick after a collection says nothing about traffic: our own GC's background work
  // would make it look busy, start a new quiet stretch and lift the cap on tries.
  if (state.collected) return { state: { ...state, collected: false }, collect: false };
  if (cpuMs >= options.quietCpuMs) return { state: INITIAL_TRIM_STATE, collect: false };
  const quiet = state.quiet + 1;
  const collect = quiet >= options.quietTicks && youngBytes > options.grownBytes && state.tries < options.maxTries;
  return { state: { quiet, tries: state.tries + (collect ? 1 : 0), collected: collect }, collect };
}

/** The young generation's resident bytes. */
export function youngGenerationBytes(): number {
  let bytes = 0;
  for (const space of getHeapSpaceStatistics()) {
    if (space.space_name === 'new_space' || space.space_name === 'new_large_object_space') {
      bytes += space.physical_space_size;
    }
  }
  return bytes;
}

/**
 * V8's gc() without `--expose-gc` on the command line: the flag is set only while a
 * fresh context is made, so no other code sees a global gc.
 */
function obtainCollect(): Collect | undefined {
  const existing = (globalThis as { gc?: unknown }).gc;
  if (typeof existing === 'function') return existing as Collect;
  try {
    setFlagsFromString('--expose-gc');
    const collect: unknown = runInNewContext('gc');
    return typeof collect === 'function' ? (collect as Collect) : undefined;
  } catch {
    return undefined;
  } finally {
    setFlagsFromString('--no-expose-gc');
  }
}

export interface HeapTrim {
  stop(): void;
}

/** Starts looking at the process every `tickMs`; the timer does not keep it alive. */
export function startHeapTrim(logger: Logger, options: HeapTrimOptions = DEFAULT_HEAP_TRIM): HeapTrim {
  const collect = obtainCollect();
  if (!collect) {
    logger.debug('heap trim off: this Node does not offer gc()');
    return { stop() {} };
  }
  let state = INITIAL_TRIM_STATE;
  let since = process.cpuUsage();

  const timer = setInterval(() => {
    const used = process.cpuUsage(since);
    const young = youngGenerationBytes();
    const step = decideTrim(state, (used.user + used.system) / 1000, young, options);
    state = step.state;
    if (step.collect) {
      collect({ type: 'major', flavor: 'last-resort' });
      const after = youngGenerationBytes();
      if (after <= options.grownBytes) {
        logger.debug({ youngBeforeMb: mb(young), youngAfterMb: mb(after), rssMb: mb(process.memoryUsage.rss()) }, 'heap trimmed');
      } else if (state.tries === options.maxTries) {
        logger.debug({ youngMb: mb(after), tries: state.tries }, 'heap trim gave up until the next busy second');
      }
    }
    since = process.cpuUsage();
  }, options.tickMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** Megabytes with one decimal. */
function mb(bytes: number): number {
  return Math.round((bytes / 2 ** 20) * 10) / 10;
}
