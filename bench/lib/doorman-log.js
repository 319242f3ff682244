// Reads a Doorman JSON log after a run: how many access lines, their statuses,
// terminations and cookie flags, every line at warn level or above (by message) and
// the other non-access lines (listening, health transitions...).
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

const LEVEL_NAMES = { 40: 'warn', 50: 'error', 60: 'fatal' };

/** Tallies the log file; bounded: at most 20 distinct warn+ messages are kept. */
export async function summarizeDoormanLog(file) {
  const summary = {
    lines: 0,
    access: 0,
    status: {},
    termination: {},
    cookieIn: {},
    cookieOut: {},
    server: {},
    problems: {},
    other: {},
    unparsed: 0,
  };
  const lines = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    summary.lines += 1;
    let entry;
    try {
      entry = JSON.parse(line);
    } catch {
      summary.unparsed += 1;
      continue;
    }
    if (entry.msg === 'access') {
      summary.access += 1;
      tally(summary.status, entry.status);
      tally(summary.termination, entry.termination);
      tally(summary.cookieIn, entry.cookieIn);
      tally(summary.cookieOut, entry.cookieOut);
      tally(summary.server, entry.server);
    }
    if (entry.level >= 40) {
      const key = `${LEVEL_NAMES[entry.level] ?? entry.level}: ${entry.msg}${entry.err?.message ? ` (${entry.err.message})` : ''}${entry.server ? ` [${entry.server}]` : ''}`;
      if (key in summary.problems || Object.keys(summary.problems).length < 20) tally(summary.problems, key);
    } else if (entry.msg !== 'access') {
      const err = typeof entry.err === 'string' ? entry.err : entry.err?.message;
      const key = `${entry.msg}${entry.server ? ` [${entry.server}]` : ''}${entry.status ? ` ${entry.status}` : ''}${err ? ` (${err})` : ''}`;
      if (key in summary.other || Object.keys(summary.other).length < 20) tally(summary.other, key);
    }
  }
  return summary;
}

function tally(counts, key) {
  const k = String(key);
  counts[k] = (counts[k] ?? 0) + 1;
}
