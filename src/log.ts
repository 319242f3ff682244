// The pino logger: JSON on stdout through an asynchronous destination, so writing a
// log line never blocks the request path; cookie and authorization values redacted.
// Raw text lines (HAProxy's httplog) go through the same destination, in order.
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogConfig } from './config/types.js';
import { createLineBatch } from './line-batch.js';

/** A logger and the way to flush it before the process exits. */
export interface LogOutput {
  readonly logger: Logger;
  /**
   * The same output without redaction, for access lines only: an AccessRecord has fixed
   * keys and never a header value, and redaction was a measurable share of each request.
   */
  readonly accessLogger: Logger;
  /** Writes `line` and a newline as they are, after every line written before. */
  writeLine(line: string): void;
  /** Resolves once every line written so far is out, in order. */
  flush(): Promise<void>;
}

const REDACT = {
  paths: ['cookie', 'authorization', '*.cookie', '*.authorization', 'headers.cookie', 'headers.authorization', 'token'],
  censor: '[redacted]',
};

/** Creates the process logger; `destination` replaces stdout (tests). */
export function createLogger(config: Pick<LogConfig, 'level'>, destination?: DestinationStream): LogOutput {
  const options = { level: config.level, redact: REDACT, base: { pid: process.pid } };
  const accessOptions = { level: config.level, base: { pid: process.pid } };
  if (destination) {
    return {
      logger: pino(options, destination),
      accessLogger: pino(accessOptions, destination),
      writeLine: (line) => destination.write(`${line}\n`),
      flush: async () => {},
    };
  }
  const stdout = pino.destination({ dest: 1, sync: false });
  // Whoever reads our stdout is gone (a worker whose primary died): nothing left to tell.
  stdout.on('error', () => {});
  // Lines wait up to 10 ms and go out as one write, not one write per burst (line-batch.ts).
  const batch = createLineBatch(stdout);
  return {
    logger: pino(options, batch),
    accessLogger: pino(accessOptions, batch),
    writeLine: (line) => batch.write(`${line}\n`),
    flush: () =>
      new Promise<void>((resolve) => {
        batch.flushNow();
        try {
          // Waits for the write in flight, so lines keep their order (flushSync would not).
          stdout.flush(() => resolve());
        } catch {
          resolve();
        }
      }),
  };
}
