// The access line of each finished request: a pino JSON line (`log.format: json`) or
// HAProxy's httplog text line (`log.format: haproxy`), formatted only when written.
import type { Logger } from 'pino';
import type { LogFormat } from '../config/types.js';
import type { AccessRecord } from '../exchange/access-record.js';
import { createHttplogFormatter, type HttplogContext } from './httplog.js';

export interface AccessLogOptions {
  readonly format: LogFormat;
  /** Where JSON lines go. */
  readonly accessLogger: Logger;
  /** Writes one raw text line to the same destination as the JSON lines (haproxy format). */
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
      const { accessLogger } = options;
      return (record) => accessLogger.info(record, 'access');
    }
    case 'haproxy': {
      const { writeLine, context } = options;
      const format = createHttplogFormatter();
      return (record) => writeLine(format(record, { ...context(record), startedAtMs: Date.now() - record.totalMs }));
    }
  }
}
