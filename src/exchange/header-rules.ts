// Header rules from the config (frontend, route, backend; request and response):
// remove, then set, then add, on raw header pairs, with a few per-request variables.
import type { HeaderOps } from '../config/types.js';

/** The variables a header value may use. */
export const HEADER_VARIABLES = ['client_ip', 'request_id', 'ssl', 'server'] as const;

export interface HeaderVariables {
  readonly client_ip: string;
  readonly request_id: string;
  /** `1` on a TLS frontend, else `0` (HAProxy's ssl_fc). */
  readonly ssl: string;
  /** The server's name; '' before one is chosen (request rules). */
  readonly server: string;
}

const VARIABLE = /%\{([a-z_]+)\}/g;

function expand(template: string, vars: HeaderVariables): string {
  if (!template.includes('%{')) return template;
  return template.replace(VARIABLE, (whole, name: string) => (name in vars ? vars[name as keyof HeaderVariables] : whole));
}

/** True when the ops change nothing (the common case: skip the pass). */
export function isEmpty(ops: HeaderOps): boolean {
  return ops.set.length === 0 && ops.add.length === 0 && ops.remove.length === 0;
}

/** The names an ops' remove and set take out, built once per config object. */
const DROPPED = new WeakMap<HeaderOps, ReadonlySet<string> | null>();
function droppedNames(ops: HeaderOps): ReadonlySet<string> | null {
  let names = DROPPED.get(ops);
  if (names === undefined) {
    names = ops.remove.length > 0 || ops.set.length > 0 ? new Set([...ops.remove, ...ops.set.map(([name]) => name)]) : null;
    DROPPED.set(ops, names);
  }
  return names;
}

/** Applies `ops` to raw pairs in place. */
export function applyHeaderOps(headers: string[], ops: HeaderOps, vars: HeaderVariables): void {
  if (isEmpty(ops)) return;
  const drop = droppedNames(ops);
  if (drop) {
    let write = 0;
    for (let read = 0; read < headers.length; read += 2) {
      if (drop.has(headers[read]!.toLowerCase())) continue;
      headers[write] = headers[read]!;
      headers[write + 1] = headers[read + 1]!;
      write += 2;
    }
    headers.length = write;
  }
  for (const [name, template] of ops.set) headers.push(name, expand(template, vars));
  for (const [name, template] of ops.add) headers.push(name, expand(template, vars));
}

/** Sets one header, replacing any of that name (`name` lower-case). */
export function setHeader(headers: string[], name: string, value: string): void {
  for (let i = headers.length - 2; i >= 0; i -= 2) if (headers[i]!.toLowerCase() === name) headers.splice(i, 2);
  headers.push(name, value);
}
