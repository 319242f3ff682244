// Reads a systemd unit file the way systemd does, so a test can check its directives
// and run its commands without a running systemd: the unit syntax
// (systemd.syntax(7)), command lines (systemd.service(5) "Command lines"), time spans
// (systemd.time(7)) and Restart=on-failure's decision.
import { readdirSync, readFileSync } from 'node:fs';

/** Section name -> directive -> its values in order (a directive may repeat). */
export type Unit = ReadonlyMap<string, ReadonlyMap<string, readonly string[]>>;

/** Parses unit file text: sections, `Key=Value`, comments, `\` continuations; an empty value resets a list. */
export function parseUnit(text: string): Unit {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      const next = lines[++i]!.trim();
      // Comment lines inside a continuation are skipped, as systemd does.
      if (next.startsWith('#') || next.startsWith(';')) continue;
      line = `${line.slice(0, -1)} ${next}`;
    }
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      current = sections.get(header[1]!) ?? new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0 || !current) throw new Error(`line ${i + 1}: not "Key=Value" inside a section: ${line}`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (value === '') current.set(key, []);
    else current.set(key, [...(current.get(key) ?? []), value]);
  }
  return sections;
}

/** All values of `section`'s `key` (empty when absent). */
export function directives(unit: Unit, section: string, key: string): readonly string[] {
  return unit.get(section)?.get(key) ?? [];
}

/** The value systemd uses for a single-valued directive: the last one. */
export function directive(unit: Unit, section: string, key: string): string | undefined {
  return directives(unit, section, key).at(-1);
}

/** One Exec*= line: its prefixes (`-` failure ignored, `+`/`!` privileged, `@` argv0, `:` no expansion) and argv. */
export interface ExecCommand {
  readonly prefixes: string;
  readonly argv: readonly string[];
}

/** Splits an Exec*= value into prefixes and words, expanding `$VAR` (split into words) and `${VAR}` (one word). */
export function parseExec(value: string, env: Readonly<Record<string, string>> = {}): ExecCommand {
  const prefix = /^[-@:+!]*/.exec(value)![0];
  const words: string[] = [];
  const rest = value.slice(prefix.length);
  const tokens = rest.match(/"(?:[^"\\]|\\.)*"|'[^']*'|\S+/g) ?? [];
  const lookup = (name: string) => {
    if (!(name in env)) throw new Error(`unknown variable $${name} in: ${value}`);
    return env[name]!;
  };
  for (const token of tokens) {
    if (token.startsWith('"')) words.push(token.slice(1, -1).replace(/\\(.)/g, '$1'));
    else if (token.startsWith("'")) words.push(token.slice(1, -1));
    else if (prefix.includes(':')) words.push(token);
    else if (/^\$[A-Za-z_][A-Za-z0-9_]*$/.test(token)) words.push(...lookup(token.slice(1)).split(/\s+/).filter(Boolean));
    else words.push(token.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => lookup(name)).replace(/\$\$/g, '$'));
  }
  if (words.length === 0) throw new Error(`empty command line: ${value}`);
  return { prefixes: prefix, argv: words };
}

const TIME_UNITS_MS: Record<string, number> = {
  us: 0.001,
  usec: 0.001,
  ms: 1,
  msec: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
};

/** A systemd time span in ms: "45s", "1min 30s", "2s500ms"; a bare number is seconds. */
export function parseTimespanMs(value: string): number {
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  let total = 0;
  const rest = value.replace(/(\d+(?:\.\d+)?)\s*([a-z]+)/g, (_m, n: string, unit: string) => {
    const ms = TIME_UNITS_MS[unit];
    if (ms === undefined) throw new Error(`unknown time unit "${unit}" in "${value}"`);
    total += Number(n) * ms;
    return '';
  });
  if (rest.trim() !== '') throw new Error(`not a time span: "${value}"`);
  return total;
}

/** Signals systemd counts as a clean exit of the main process (systemd.service(5), Restart=). */
const CLEAN_SIGNALS: readonly string[] = ['SIGHUP', 'SIGINT', 'SIGTERM', 'SIGPIPE'];

/** Would Restart=on-failure restart a main process that ended this way? */
export function restartsOnFailure(exit: { readonly code: number | null; readonly signal: NodeJS.Signals | null }, unit: Unit): boolean {
  const success = directives(unit, 'Service', 'SuccessExitStatus').flatMap((v) => v.split(/\s+/));
  if (exit.signal) return !CLEAN_SIGNALS.includes(exit.signal) && !success.includes(exit.signal);
  return exit.code !== 0 && !success.includes(String(exit.code));
}

/** Pids whose parent is `pid` (Linux /proc): a service's workers, the rest of its control group. */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // Gone while we looked.
    }
  }
  return children;
}

/** Is `pid` still running (not gone; a zombie counts as gone)? */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
