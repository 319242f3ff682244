// Operator state (READY/DRAIN/MAINT and weight per server) persisted across restarts:
// written atomically on every change, restored at start. A corrupt file is moved
// aside, never trusted and never lost.
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';

const savedServer = z.strictObject({
  state: z.enum(['READY', 'DRAIN', 'MAINT']),
  weight: z.number().int().min(0).max(256),
});
const stateDocument = z.strictObject({
  version: z.literal(1),
  servers: z.record(z.string(), savedServer),
});

/** One server's operator state, keyed by "backend/server" in the file. */
export type SavedServerState = z.infer<typeof savedServer>;
export type SavedState = ReadonlyMap<string, SavedServerState>;

/** Reads the state file. Missing: empty. Corrupt: logged, renamed to `*.corrupt-<time>`, empty. */
export async function loadStateFile(path: string, logger: Logger): Promise<SavedState> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    logger.error({ stateFile: path, err: (err as Error).message }, 'cannot read the state file; starting with defaults');
    return new Map();
  }
  try {
    const parsed = stateDocument.parse(JSON.parse(text));
    return new Map(Object.entries(parsed.servers));
  } catch (err) {
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const reason = (err as Error).message;
    try {
      await rename(path, aside);
      logger.error({ stateFile: path, movedTo: aside, err: reason }, 'corrupt state file moved aside; starting with defaults');
    } catch (renameErr) {
      logger.error(
        { stateFile: path, err: reason, renameErr: (renameErr as Error).message },
        'corrupt state file could not be moved aside; starting with defaults',
      );
    }
    return new Map();
  }
}

/** Writes state files one at a time; a change made while a write runs is written right after it. */
export class StateFileWriter {
  readonly path: string;
  readonly #logger: Logger;
  #running: Promise<void> | null = null;
  #next: SavedState | null = null;

  constructor(path: string, logger: Logger) {
    this.path = path;
    this.#logger = logger;
  }

  /** Schedules a write of `state`; resolves once it (or a newer state) is on disk. */
  save(state: SavedState): Promise<void> {
    this.#next = state;
    if (!this.#running) this.#running = this.#drain();
    return this.#running;
  }

  async #drain(): Promise<void> {
    try {
      while (this.#next) {
        const state = this.#next;
        this.#next = null;
        try {
          await writeAtomically(this.path, serialize(state));
        } catch (err) {
          this.#logger.error({ stateFile: this.path, err: (err as Error).message }, 'cannot write the state file');
        }
      }
    } finally {
      this.#running = null;
    }
  }
}

function serialize(state: SavedState): string {
  const servers: Record<string, SavedServerState> = {};
  for (const [key, value] of [...state].sort(([a], [b]) => a.localeCompare(b))) servers[key] = value;
  return `${JSON.stringify({ version: 1, servers }, null, 2)}\n`;
}

/** temp file, fsync, rename, fsync the folder: a crash leaves the old or the new file, whole. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const folder = dirname(path);
  await mkdir(folder, { recursive: true });
  const temp = `${path}.tmp-${process.pid}`;
  const file = await open(temp, 'w', 0o644);
  try {
    await file.writeFile(text);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temp, path);
  const dir = await open(folder, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
