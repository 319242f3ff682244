// Gathers log lines for a few milliseconds and hands them to the real destination as
// one string. SonicBoom alone starts an fs.write (a thread-pool round trip and a
// syscall) for the first line of every burst; under load that cost more per access
// line than formatting it.
import type { DestinationStream } from 'pino';

/** A pino destination that forwards what it was given at most every `delayMs`. */
export interface LineBatch extends DestinationStream {
  /** Hands the lines gathered so far to the destination now. */
  flushNow(): void;
}

/** Past this many buffered characters a batch is written at once. */
const MAX_BATCH_CHARS = 64 * 1024;

/**
 * Wraps `destination`; lines keep their order and wait at most `delayMs` (then are
 * written even when nothing else comes). The timer does not keep the process alive:
 * the shutdown path calls flushNow.
 */
export function createLineBatch(destination: DestinationStream, delayMs = 10): LineBatch {
  let lines: string[] = [];
  let chars = 0;
  let timer: NodeJS.Timeout | undefined;

  function flushNow(): void {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (lines.length === 0) return;
    const batch = lines.length === 1 ? lines[0]! : lines.join('');
    lines = [];
    chars = 0;
    destination.write(batch);
  }

  return {
    write(line: string) {
      lines.push(line);
      chars += line.length;
      if (chars >= MAX_BATCH_CHARS) flushNow();
      else if (timer === undefined) timer = setTimeout(flushNow, delayMs).unref();
    },
    flushNow,
  };
}
