// The access line of each finished request: a JSON line shaped like pino's (`log.format: json`) or
// HAProxy's httplog text line (`log.format: haproxy`), formatted only when written.
import type { Logger } from 'pino';
import type { LogFormat } from '../config/types.js';
import type { AccessRecord } from '../exchange/access-record.js';
import { createHttplogFormatter, type HttplogContext } from './httplog.js';
import { jsonAccessLine } from './json-line.js';

export interface AccessLogOptions {
  readonly format: LogFormat;
  /** Decides whether access lines are written at all (its level). */
  readonly accessLogger: Logger;
  /** Writes one line, JSON or text, to the log's destination. */
  readonly writeLine: (line: string) => void;
  /** HAProxy's transport flag and connection counts, read when the line is written. */
  readonly context: (record: AccessRecord) => Omit<HttplogContext, 'startedAtMs'>;
}

/** Builds the function that writes one access line per record. */
export function createAccessLog(options: AccessLogOptions): (record: AccessRecord) => void {
  // Access lines are `info`: a quieter log.level silences them in either format.
  if (!options.accessLogger.isLevelEnabled('info')) return () => {};
  switch (options.format) {
    case 'json': {
      const { writeLine } = options;
      const pid = process.pid;
      return (record) => writeLine(jsonAccessLine(record, pid, Date.now()));
    }
    case 'haproxy': {
      const { writeLine, context } = options;
      const format = createHttplogFormatter();
      return (record) => writeLine(format(record, { ...context(record), startedAtMs: Date.now() - record.totalMs }));
    }
  }
}
