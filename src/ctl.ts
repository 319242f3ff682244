#!/usr/bin/env node
// doorman-ctl: the operator's command line for a running Doorman, the way poundctl or
// HAProxy's stats socket were used. It only talks to the admin API over HTTP.
//
//   node dist/ctl.js [--admin URL] [--token T] state [--json]
//   node dist/ctl.js [--admin URL] [--token T] set BACKEND/SERVER ready|drain|maint
//   node dist/ctl.js [--admin URL] [--token T] weight BACKEND/SERVER N
//   node dist/ctl.js [--admin URL] [--token T] reload
//
// Exit codes: 0 done, 1 the API refused or could not be reached, 2 bad usage.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BackendView, ServerView } from './admin/control/server-control.js';

const USAGE = `usage: node dist/ctl.js [--admin URL] [--token T] COMMAND
commands:
  state [--json]                              backends and servers, as a table (or raw JSON)
  set BACKEND/SERVER ready|drain|maint        change a server's operator state
  weight BACKEND/SERVER N                     change a server's weight (0..256)
  reload                                      reload the config file (as SIGHUP)
options:
  --admin URL   admin API (default $DOORMAN_ADMIN or http://127.0.0.1:9090)
  --token T     bearer token (default $DOORMAN_TOKEN)`;

const DEFAULT_ADMIN = 'http://127.0.0.1:9090';
const STATES = { ready: 'READY', drain: 'DRAIN', maint: 'MAINT' } as const;

/** A parsed command line: what to do, against which admin API. */
export type CtlCommand =
  | { readonly kind: 'state'; readonly json: boolean }
  | { readonly kind: 'set'; readonly backend: string; readonly server: string; readonly state: 'READY' | 'DRAIN' | 'MAINT' }
  | { readonly kind: 'weight'; readonly backend: string; readonly server: string; readonly weight: number }
  | { readonly kind: 'reload' }
  | { readonly kind: 'help' };

/** The admin API's address and credentials plus the command, as parseCtlArgs returns them. */
export interface CtlInvocation {
  readonly admin: string;
  readonly token: string | undefined;
  readonly command: CtlCommand;
}

/** A mistake on the command line (exit code 2). */
export class UsageError extends Error {}

/** A refusal or failure of the admin API, with the API's own message (exit code 1). */
export class ApiError extends Error {}

function serverRef(text: string | undefined): { backend: string; server: string } {
  const match = text === undefined ? null : /^([^/\s]+)\/([^/\s]+)$/.exec(text);
  if (!match) throw new UsageError(`expected BACKEND/SERVER, got ${text === undefined ? 'nothing' : `"${text}"`}`);
  return { backend: match[1]!, server: match[2]! };
}

function expectArgs(words: readonly string[], count: number, command: string): void {
  if (words.length !== count + 1)
    throw new UsageError(`${command}: expected ${count} argument${count === 1 ? '' : 's'}, got ${words.length - 1}`);
}

/** Parses argv (without node and the script) and the environment; throws UsageError on a mistake. */
export function parseCtlArgs(argv: readonly string[], env: NodeJS.ProcessEnv): CtlInvocation {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        admin: { type: 'string' },
        token: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals: words } = parsed;
  const admin = values.admin ?? (env.DOORMAN_ADMIN || DEFAULT_ADMIN);
  try {
    const url = new URL(admin);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
  } catch {
    throw new UsageError(`--admin: expected an http:// URL, got "${admin}"`);
  }
  const token = values.token ?? (env.DOORMAN_TOKEN || undefined);
  const invocation = (command: CtlCommand): CtlInvocation => ({ admin, token, command });

  if (values.help) return invocation({ kind: 'help' });
  if (values.json && words[0] !== 'state') throw new UsageError('--json only goes with state');
  const verb = words[0];
  switch (verb) {
    case 'state':
      expectArgs(words, 0, verb);
      return invocation({ kind: 'state', json: values.json });
    case 'set': {
      expectArgs(words, 2, verb);
      const ref = serverRef(words[1]);
      const word = words[2]!.toLowerCase();
      if (!Object.hasOwn(STATES, word)) throw new UsageError(`set: expected ready, drain or maint, got "${words[2]}"`);
      return invocation({ kind: 'set', ...ref, state: STATES[word as keyof typeof STATES] });
    }
    case 'weight': {
      expectArgs(words, 2, verb);
      const ref = serverRef(words[1]);
      const weight = /^\d+$/.test(words[2]!) ? Number(words[2]) : NaN;
      if (!Number.isInteger(weight) || weight > 256) throw new UsageError(`weight: expected an integer 0..256, got "${words[2]}"`);
      return invocation({ kind: 'weight', ...ref, weight });
    }
    case 'reload':
      expectArgs(words, 0, verb);
      return invocation({ kind: 'reload' });
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command "${verb}"`);
  }
}

/** The API's own words for a failed call: its JSON `error`/`errors`, or its text body. */
function apiMessage(status: number, body: string): string {
  let message = body.trim();
  try {
    const value = JSON.parse(body) as { error?: unknown; errors?: unknown };
    if (Array.isArray(value.errors) && value.errors.length > 0) message = value.errors.map(String).join('\n');
    else if (typeof value.error === 'string') message = value.error;
  } catch {
    // not JSON: the text body is the message
  }
  return `admin API answered ${status}${message ? `: ${message}` : ''}`;
}

async function call(inv: CtlInvocation, method: string, path: string, body?: unknown): Promise<unknown> {
  const url = new URL(path, inv.admin.endsWith('/') ? inv.admin : `${inv.admin}/`);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (inv.token) headers.authorization = `Bearer ${inv.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ApiError(`cannot reach the admin API at ${inv.admin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  const text = await response.text();
  if (!response.ok) throw new ApiError(apiMessage(response.status, text));
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ApiError(`admin API answered ${response.status} with a body that is not JSON`);
  }
}

function ageText(iso: string, nowMs: number): string {
  const seconds = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return '';
  if (seconds < 120) return `${seconds}s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m ago`;
  return `${Math.round(seconds / 3600)}h ago`;
}

function lastCheckText(check: ServerView['lastCheck'], nowMs: number): string {
  if (!check) return '-';
  const code = check.code === null ? '' : ` ${check.code}`;
  const reason = check.status === 'ok' ? '' : ` (${check.reason})`;
  return `${check.status}${code}${reason} ${Math.round(check.durationMs)}ms, ${ageText(check.at, nowMs)}`.replace(/, $/, '');
}

/** Renders /api/state as a fixed-width table, one row per server. */
export function formatStateTable(state: { backends: readonly BackendView[] }, nowMs = Date.now()): string {
  const header = ['BACKEND/SERVER', 'ADDRESS', 'STATE', 'HEALTH', 'ACTIVE', 'QUEUED', 'WEIGHT', 'LAST CHECK'];
  const rows = state.backends.flatMap((b) =>
    b.servers.map((s) => [
      `${b.name}/${s.name}`,
      s.address,
      s.state,
      s.health,
      String(s.active),
      String(s.queued),
      String(s.weight),
      lastCheckText(s.lastCheck ?? null, nowMs),
    ]),
  );
  if (rows.length === 0) return 'no backends\n';
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[header, ...rows].map(line).join('\n')}\n`;
}

function describeServer(backend: string, view: ServerView): string {
  return `${backend}/${view.name} is ${view.state} (operator ${view.adminState}, weight ${view.weight})\n`;
}

/** Runs one invocation, writing its output; throws ApiError when the API refuses. */
export async function runCtl(inv: CtlInvocation, out: (text: string) => void): Promise<void> {
  const { command } = inv;
  switch (command.kind) {
    case 'help':
      out(`${USAGE}\n`);
      return;
    case 'state': {
      const state = (await call(inv, 'GET', 'api/state')) as { backends: BackendView[] };
      out(command.json ? `${JSON.stringify(state, null, 2)}\n` : formatStateTable(state));
      return;
    }
    case 'set':
    case 'weight': {
      const path = `api/backends/${encodeURIComponent(command.backend)}/servers/${encodeURIComponent(command.server)}/${command.kind === 'set' ? 'state' : 'weight'}`;
      const body = command.kind === 'set' ? { state: command.state } : { weight: command.weight };
      const view = (await call(inv, 'PUT', path, body)) as ServerView;
      out(describeServer(command.backend, view));
      return;
    }
    case 'reload': {
      const result = (await call(inv, 'POST', 'api/reload')) as { warnings?: string[] };
      out(result.warnings?.length ? `reloaded, with problems:\n${result.warnings.join('\n')}\n` : 'reloaded\n');
      return;
    }
  }
}

async function main(): Promise<void> {
  let inv: CtlInvocation;
  try {
    inv = parseCtlArgs(process.argv.slice(2), process.env);
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  try {
    await runCtl(inv, (text) => process.stdout.write(text));
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = 1;
  }
}

/** True when this module is the process's entry script (also through the npm bin symlink). */
function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  });
}
