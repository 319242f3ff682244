// The zod schema of the raw YAML document: shapes, ranges and defaults, key by key.
// Cross-field rules (unique names, references, listeners) live in load.ts.

import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { parseSize } from './size.js';
import type { HostPort } from './types.js';

/** Node's timers overflow above this many milliseconds (and then fire at once). */
export const MAX_TIMER_MS = 2_147_483_647;

/**
 * Parses `host:port` (IPv6 as `[::1]:8443`) into `{host, port}`, or throws with the
 * problem; `minPort` is 0 for listeners (0 = ephemeral port) and 1 for servers.
 */
export function parseHostPort(text: string, minPort: 0 | 1): HostPort {
  let host: string;
  let portText: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']:');
    if (end < 0) throw new Error('expected host:port');
    host = text.slice(1, end);
    portText = text.slice(end + 2);
    if (isIP(host) !== 6) throw new Error(`invalid IPv6 address "${host}"`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new Error('expected host:port');
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':')) throw new Error('IPv6 addresses need brackets, e.g. [::1]:8443');
    if (!isHostname(host)) throw new Error(`invalid host "${host}"`);
  }
  if (!/^\d{1,5}$/.test(portText)) throw new Error('expected host:port');
  const port = Number(portText);
  if (port < minPort || port > 65_535) throw new Error(`port must be ${minPort}..65535`);
  return { host, port };
}

function isHostname(host: string): boolean {
  if (isIP(host) === 4) return true;
  if (/^[\d.]+$/.test(host)) return false; // looks like IPv4 but is not one
  return /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(host);
}

/**
 * Validates an IPv4 or IPv6 CIDR (a bare address means /32 or /128) and returns it
 * as `address/prefix`, or throws.
 */
export function parseCidr(text: string): string {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(address);
  if (family === 0) throw new Error(`invalid CIDR "${text}"`);
  const max = family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > max) throw new Error(`invalid CIDR "${text}"`);
  try {
    new BlockList().addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  } catch {
    throw new Error(`invalid CIDR "${text}"`);
  }
  return `${address}/${prefix}`;
}

// A schema-level error that still says `required` when the key is missing.
function typeError(message: string) {
  return (issue: { input?: unknown }): string => (issue.input === undefined ? 'required' : message);
}

// A string parsed by `parse`; its error message becomes the problem.
function parsedString<T>(parse: (text: string) => T, expected: string) {
  return z.string({ error: typeError(expected) }).transform((text, ctx): T => {
    try {
      return parse(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, input: text });
      return z.NEVER;
    }
  });
}

const bindAddress = parsedString((text) => parseHostPort(text, 0), 'expected host:port');
const serverAddress = parsedString((text) => parseHostPort(text, 1), 'expected host:port');
const cidr = parsedString(parseCidr, 'expected a CIDR such as 10.0.0.0/8');

// A string or integer parsed by `parse` (durations, sizes); its error message becomes the problem.
function parsedNumber(parse: (value: string | number) => number, expected: string) {
  return z.union([z.string(), z.number()], { error: typeError(expected) }).transform((value, ctx): number => {
    try {
      return parse(value);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, input: value });
      return z.NEVER;
    }
  });
}

const duration = parsedNumber(parseDuration, 'expected a duration such as 5s or integer milliseconds');
const size = parsedNumber(parseSize, 'expected a size such as 64KiB or an integer number of bytes');

/** A duration that must be > 0 and fit a Node timer. */
const timerDuration = duration
  .refine((ms) => ms > 0, 'must be greater than 0')
  .refine((ms) => ms <= MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS}ms (about 24.8 days)`);

/** A duration that may be 0 and must fit a Node timer. */
const timerDurationOrZero = duration.refine((ms) => ms <= MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS}ms (about 24.8 days)`);

// HAProxy's characters for proxy and server names; also safe in URLs and metric labels.
const name = z.string().regex(/^[A-Za-z0-9._:-]+$/, 'must be letters, digits, ".", "_", ":" or "-"');
const nonEmpty = z.string().min(1);
// RFC 6265 cookie-name (an RFC 7230 token) and cookie-value characters.
const cookieName = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, 'not a valid cookie name');
const cookieValue = z.string().regex(/^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]+$/, 'not a valid cookie value');

const pin = z.string().refine((text) => {
  if (!text.startsWith('sha256/')) return false;
  const b64 = text.slice('sha256/'.length);
  const bytes = Buffer.from(b64, 'base64');
  return bytes.length === 32 && bytes.toString('base64') === b64;
}, 'expected "sha256/" followed by the base64 of 32 bytes');

const logSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  access: z.boolean().default(true),
  format: z.enum(['json', 'haproxy']).default('json'),
});

const metricsSchema = z.strictObject({
  haproxyCompat: z.boolean().default(false),
});

const timeoutsSchema = z.strictObject({
  client: timerDuration.default(60_000),
  server: timerDuration.default(60_000),
  connect: timerDuration.default(5_000),
  queue: timerDurationOrZero.default(10_000),
  shutdown: timerDurationOrZero.default(30_000),
  grace: timerDurationOrZero.default(0),
});

const adminSchema = z.strictObject({
  bind: bindAddress.default({ host: '127.0.0.1', port: 9090 }),
  token: nonEmpty.nullable().default(null),
  // Host values accepted besides loopback names and addresses and the bind address (DNS rebinding).
  allowedHosts: z
    .array(
      z
        .string()
        .min(1)
        .transform((h) => h.toLowerCase()),
    )
    .default([]),
  // CIDRs allowed to connect; empty: any.
  allow: z.array(cidr).default([]),
});

/** An HTTP field name (RFC 9110 token). */
const fieldName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'not a valid header name');
/** A host pattern: `shop.example` or `*.shop.example`; a port is not part of it. */
const hostPattern = z
  .string()
  .transform((text) => text.toLowerCase())
  .refine(
    (text) => /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(text),
    'expected a host name such as shop.example or *.shop.example',
  );

/** `{ 503: errors/503.html }`: statuses Doorman answers itself, and the files served instead of its text bodies. */
const ERROR_PAGE_STATUSES = ['400', '403', '404', '408', '429', '431', '500', '502', '503', '504'];
const errorPages = z
  .record(z.string(), z.string().min(1))
  .refine(
    (pages) => Object.keys(pages).every((status) => ERROR_PAGE_STATUSES.includes(status)),
    `keys must be statuses Doorman answers: ${ERROR_PAGE_STATUSES.join(', ')}`,
  )
  .default({});

/** A header value template: no CR, LF or NUL (variables such as %{client_ip} are expanded per request). */
const headerValue = z
  .string()
  .refine((v) => !/[\r\n\0]/.test(v), 'must not contain CR, LF or NUL')
  .refine(
    (v) => [...v.matchAll(/%\{([a-z_]+)\}/g)].every((m) => ['client_ip', 'request_id', 'ssl', 'server'].includes(m[1]!)),
    'unknown variable: use %{client_ip}, %{request_id}, %{ssl} or %{server}',
  );
const headerOps = z
  .strictObject({
    set: z.record(fieldName, headerValue).default({}),
    add: z.record(fieldName, headerValue).default({}),
    remove: z.array(fieldName).default([]),
  })
  .default({ set: {}, add: {}, remove: [] });
const headerRules = z
  .strictObject({ request: headerOps, response: headerOps })
  .default({ request: { set: {}, add: {}, remove: [] }, response: { set: {}, add: {}, remove: [] } });

const routeSchema = z.strictObject({
  name: name.nullable().default(null),
  match: z
    .strictObject({
      host: hostPattern.nullable().default(null),
      path: z.string().startsWith('/', 'must start with /').nullable().default(null),
      method: z
        .union([z.string(), z.array(z.string()).min(1)])
        .transform((m) => (Array.isArray(m) ? m : [m]).map((x) => x.toUpperCase()))
        .refine((methods) => methods.every((m) => /^[A-Z]+$/.test(m)), 'expected method names such as GET')
        .nullable()
        .default(null),
      header: z
        .strictObject({ name: fieldName, value: z.string().nullable().default(null) })
        .nullable()
        .default(null),
    })
    .default({ host: null, path: null, method: null, header: null }),
  backend: name.nullable().default(null),
  stripPrefix: z.boolean().default(false),
  headers: headerRules,
  redirect: z
    .strictObject({
      to: z.string().min(1),
      status: z.literal([301, 302, 303, 307, 308]).default(302),
      keepPath: z.boolean().default(false),
      keepQuery: z.boolean().default(false),
    })
    .nullable()
    .default(null),
  respond: z
    .strictObject({
      status: z.int().min(200).max(599),
      body: z.string().default(''),
      type: z.string().default('text/plain; charset=utf-8'),
    })
    .nullable()
    .default(null),
});

/** Per-client limits of a frontend (src/limits/client-limits.ts). */
const limitsSchema = z.strictObject({
  connections: z.int().min(1).nullable().default(null),
  requestRate: z
    .strictObject({
      rate: z.int().min(1),
      per: timerDuration.default(1_000),
      // Requests a client may send at once after a quiet spell; default: `rate`.
      burst: z.int().min(1).nullable().default(null),
    })
    .nullable()
    .default(null),
  allow: z.array(cidr).default([]),
  deny: z.array(cidr).default([]),
  // Clients remembered at most, besides those with a connection open (see the README's bound).
  tableSize: z.int().min(1).max(10_000_000).default(100_000),
});

/** A DNS name a public CA can issue for: lower-case labels, no wildcard, not an IP address. */
const acmeDomain = z
  .string()
  .transform((text) => text.toLowerCase())
  .refine((text) => !text.startsWith('*.'), {
    error: 'wildcard names need the dns-01 challenge, which Doorman does not offer',
    abort: true,
  })
  .refine((text) => isIP(text) === 0, { error: 'expected a DNS name, not an IP address', abort: true })
  .refine(
    (text) => /^(?=.{1,253}$)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/.test(text),
    'expected a DNS name such as shop.example',
  );

const frontendAcmeSchema = z.strictObject({
  domains: z
    .array(acmeDomain)
    .min(1)
    .max(100)
    .refine((list) => new Set(list).size === list.length, 'lists a name twice'),
  challenge: z.enum(['http-01', 'tls-alpn-01']).default('http-01'),
});

const frontendSchema = z.strictObject({
  name,
  bind: bindAddress,
  tls: z
    .strictObject({
      // May be empty when `acme` names the certificates (a self-signed one stands in until they arrive).
      certs: z.array(z.strictObject({ cert: nonEmpty, key: nonEmpty })).default([]),
      minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
      acme: frontendAcmeSchema.nullable().default(null),
    })
    .nullable()
    .default(null),
  backend: name.nullable().default(null),
  redirect: z.literal('https').nullable().default(null),
  routes: z.array(routeSchema).default([]),
  headers: headerRules,
  errorPages,
  hsts: z
    .strictObject({
      maxAge: duration,
      includeSubDomains: z.boolean().default(false),
      preload: z.boolean().default(false),
    })
    .nullable()
    .default(null),
  // TLS frontends only; null means both, h2 preferred.
  alpn: z
    .array(z.enum(['h2', 'http/1.1']))
    .min(1)
    .refine((list) => new Set(list).size === list.length, 'lists a protocol twice')
    .nullable()
    .default(null),
  http2: z
    .strictObject({
      maxConcurrentStreams: z
        .number()
        .int()
        .min(1)
        .max(2 ** 31 - 1)
        .default(100),
      maxHeaderListSize: size.refine((n) => n >= 1024 && n <= 16 * 1024 * 1024, 'must be between 1KiB and 16MiB').default(64 * 1024),
      maxResetsPerSecond: z.number().int().min(1).default(100),
    })
    .default({ maxConcurrentStreams: 100, maxHeaderListSize: 64 * 1024, maxResetsPerSecond: 100 }),
  // PROXY protocol v1/v2 from these peers (their header required); empty or omitted: off.
  proxyProtocol: z
    .strictObject({
      trusted: z.array(cidr).default([]),
      timeout: timerDuration.default(5_000),
    })
    .nullable()
    .default(null),
  limits: limitsSchema.nullable().default(null),
});

const cookieSchema = z.strictObject({
  name: cookieName.default('WEBSERVERID'),
  mode: z.literal('insert').default('insert'),
  indirect: z.boolean().default(true),
  nocache: z.boolean().default(true),
  httpOnly: z.boolean().default(true),
  secure: z.literal(['auto', true, false]).default('auto'),
  secret: nonEmpty.nullable().default(null),
  sameSite: z.enum(['Strict', 'Lax', 'None']).nullable().default(null),
  maxIdle: duration
    .refine((ms) => ms > 0, 'must be greater than 0')
    .nullable()
    .default(null),
  maxLife: duration
    .refine((ms) => ms > 0, 'must be greater than 0')
    .nullable()
    .default(null),
});

const forwardForSchema = z.strictObject({
  except: cidr.nullable().default(null),
  trusted: z.array(cidr).default([]),
});

const checkSchema = z.strictObject({
  path: z
    .string()
    .regex(/^\/\S*$/, 'must be a path starting with /')
    .default('/health'),
  interval: timerDuration.default(2_000),
  timeout: timerDuration.default(1_000),
  rise: z.int().min(1).default(2),
  fall: z.int().min(1).default(3),
  expect: z.int().min(100).max(599).default(200),
  fastinter: timerDuration.nullable().default(null),
  downinter: timerDuration.nullable().default(null),
  observe: z.enum(['none', 'layer4', 'layer7']).default('none'),
  errorLimit: z.int().min(1).default(10),
  onError: z.enum(['mark-down', 'fastinter']).default('mark-down'),
});

const serverSchema = z.strictObject({
  name,
  address: serverAddress,
  tls: z
    .strictObject({
      ca: nonEmpty.nullable().default(null),
      pins: z.array(pin).default([]),
      servername: nonEmpty.nullable().default(null),
      // A client certificate for servers that require one (stunnel's `cert=`).
      cert: nonEmpty.nullable().default(null),
      key: nonEmpty.nullable().default(null),
    })
    .nullable()
    .default(null),
  // Send a PROXY protocol header first on every connection to this server.
  proxyProtocol: z.enum(['v1', 'v2']).nullable().default(null),
  maxconn: z.int().min(0).default(0),
  weight: z.int().min(0).max(256).default(1),
  cookie: cookieValue.optional(),
});

const backendSchema = z.strictObject({
  name,
  balance: z.enum(['leastconn', 'roundrobin', 'source']).default('leastconn'),
  cookie: cookieSchema.nullable().default(null),
  retries: z.int().min(0).default(3),
  redispatch: z.boolean().default(true),
  protocol: z.enum(['http1', 'h2']).default('http1'),
  headers: headerRules,
  errorPages,
  forwardFor: forwardForSchema.prefault({}),
  check: checkSchema.nullable().default(null),
  slowStart: timerDurationOrZero.default(0),
  servers: z.array(serverSchema).min(1),
});

const acmeSchema = z.strictObject({
  directory: z.string({ error: typeError("expected the https URL of the CA's ACME directory") }).refine((text) => {
    try {
      const url = new URL(text);
      return url.protocol === 'https:' && url.hostname !== '';
    } catch {
      return false;
    }
  }, "expected the https URL of the CA's ACME directory"),
  email: z
    .string()
    .regex(/^[^@\s]+@[^@\s]+$/, 'expected an email address')
    .nullable()
    .default(null),
  storage: nonEmpty,
  ca: nonEmpty.nullable().default(null),
  renewBefore: duration
    .refine((ms) => ms > 0, 'must be greater than 0')
    .nullable()
    .default(null),
  eab: z
    .strictObject({
      kid: nonEmpty,
      hmacKey: z.string().regex(/^[A-Za-z0-9_-]+=*$/, 'expected the base64url HMAC key the CA gave'),
    })
    .nullable()
    .default(null),
  // Retries after a failed order: doubling from min up to max.
  backoff: z.strictObject({ min: timerDuration.default(60_000), max: timerDuration.default(12 * 3_600_000) }).prefault({}),
});

/** The whole raw document: every SPEC key plus Doorman's HAProxy-style extras, strict. */
export const configSchema = z.strictObject({
  workers: z.union([z.int().min(1), z.literal('auto')], { error: typeError('expected a positive integer or "auto"') }).default(1),
  maxconn: z.int().min(1).default(20_000),
  log: logSchema.prefault({}),
  metrics: metricsSchema.prefault({}),
  timeouts: timeoutsSchema.prefault({}),
  admin: adminSchema.nullable().prefault({}),
  stateFile: nonEmpty.nullable().default(null),
  acme: acmeSchema.nullable().default(null),
  frontends: z.array(frontendSchema).min(1, 'at least one frontend is required'),
  backends: z.array(backendSchema).default([]),
});

/** The validated document before paths are resolved and keys renamed to `...Ms`. */
export type RawConfig = z.output<typeof configSchema>;

/** One problem before formatting: where (keys and indices) and what. */
export interface Problem {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

/** Formats a problem as `path.to.key: message` (`(root)` for the document itself). */
export function formatProblem({ path, message }: Problem): string {
  const where = path.length === 0 ? '(root)' : path.map(String).join('.');
  return `${where}: ${message}`;
}

/** Turns zod issues into problems, one per unknown key, named by the key. */
export function issuesToProblems(issues: readonly z.core.$ZodIssue[]): Problem[] {
  return issues.flatMap((issue): Problem[] =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown key' }))
      : [{ path: issue.path, message: issue.message }],
  );
}

/** Short lower-case messages for zod's built-in issues (`expected integer, got "x"`). */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'required';
      return `expected ${TYPE_NAMES[issue.expected] ?? issue.expected}, got ${describe(issue.input)}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `expected ${show(issue.values[0])}, got ${describe(issue.input)}`
        : `expected one of ${issue.values.map(show).join(', ')}, got ${describe(issue.input)}`;
    case 'too_small':
      if (issue.origin === 'array') return `must have at least ${String(issue.minimum)} item(s)`;
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'must not be empty';
      return `must be ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`;
    case 'too_big':
      return `must be ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`;
    default:
      return undefined;
  }
};

const TYPE_NAMES: Partial<Record<string, string>> = {
  object: 'mapping',
  array: 'list',
  int: 'integer',
};

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function describe(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'list';
  if (typeof input === 'object') return 'mapping';
  if (typeof input === 'string' || typeof input === 'number' || typeof input === 'boolean') return show(input);
  return typeof input;
}
