// Reads the YAML config, validates it (schema and cross-field rules, every problem at
// once), resolves paths, renames durations to `...Ms` and deep-freezes the result.

import { readFile } from 'node:fs/promises';
import { BlockList, isIP } from 'node:net';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { ConfigError } from '../errors.js';
import { formatDuration, parseDuration } from './duration.js';
import { configErrorMap, configSchema, formatProblem, issuesToProblems, parseHostPort, type Problem, type RawConfig } from './schema.js';
import type { Config, HeaderOps, HeaderRules, HostPort } from './types.js';

/** Reads and validates the config file at `file`; throws ConfigError listing every problem. */
export async function loadConfig(file: string): Promise<Config> {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new ConfigError([`${absolute}: cannot read the file (${code})`]);
  }
  return parseConfig(text, absolute);
}

/** Validates config `text` read from `file` (relative paths resolve against its folder). */
export function parseConfig(text: string, file: string): Config {
  const absolute = path.resolve(file);
  const document = parseYaml(text, absolute);
  const result = configSchema.safeParse(document, { error: configErrorMap });
  const schemaProblems = result.success ? [] : issuesToProblems(result.error.issues);
  // A rule is not reported on a key the schema already rejected (or inside one).
  const ruleProblems = checkRules(document).filter((rule) => !schemaProblems.some((problem) => isPrefix(problem.path, rule.path)));
  const problems = [...schemaProblems, ...ruleProblems];
  if (!result.success || problems.length > 0) throw new ConfigError(problems.map(formatProblem));
  return deepFreeze(toConfig(result.data, absolute));
}

/** Overrides from the command line, e.g. `--workers 4` or `--workers auto`. */
export interface ConfigOverrides {
  readonly workers?: number | string | undefined;
}

/** Returns a new frozen config with the command-line overrides applied (ConfigError if invalid). */
export function applyOverrides(config: Config, overrides: ConfigOverrides): Config {
  if (overrides.workers === undefined) return config;
  return deepFreeze({ ...config, workers: parseWorkers(overrides.workers) });
}

function parseWorkers(value: number | string): number | 'auto' {
  if (value === 'auto') return value;
  const n = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : NaN;
  if (Number.isSafeInteger(n) && n >= 1) return n;
  throw new ConfigError([`--workers: expected a positive integer or "auto", got ${JSON.stringify(value)}`]);
}

/** Recursively freezes `value` (objects and arrays) and returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function parseYaml(text: string, file: string): unknown {
  const lineCounter = new LineCounter();
  // merge: `<<: *defaults` lets servers share settings, as in HAProxy's defaults section.
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      document.errors.map((err) => {
        const { line, col } = lineCounter.linePos(err.pos[0]);
        return `${file}:${line}:${col}: ${err.message.split('\n')[0] ?? err.message}`;
      }),
    );
  }
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([`${file}: ${(err as Error).message}`]); // e.g. too many aliases
  }
  if (value === null || value === undefined) throw new ConfigError(['(root): the config file is empty']);
  return value;
}

function isPrefix(prefix: readonly PropertyKey[], full: readonly PropertyKey[]): boolean {
  return prefix.length <= full.length && prefix.every((key, i) => String(key) === String(full[i]));
}

type RawHeaderOps = { set: Record<string, string>; add: Record<string, string>; remove: string[] };

function toHeaderOps(ops: RawHeaderOps): HeaderOps {
  const lower = (entries: Record<string, string>) => Object.entries(entries).map(([name, value]) => [name.toLowerCase(), value] as const);
  return { set: lower(ops.set), add: lower(ops.add), remove: ops.remove.map((name) => name.toLowerCase()) };
}

function toHeaderRules(rules: { request: RawHeaderOps; response: RawHeaderOps }): HeaderRules {
  return { request: toHeaderOps(rules.request), response: toHeaderOps(rules.response) };
}

function toConfig(raw: RawConfig, file: string): Config {
  const dir = path.dirname(file);
  const resolve = (p: string): string => path.resolve(dir, p);
  const toErrorPages = (pages: Record<string, string>) =>
    Object.fromEntries(Object.entries(pages).map(([status, page]) => [Number(status), resolve(page)]));
  return {
    file,
    workers: raw.workers,
    maxconn: raw.maxconn,
    log: raw.log,
    metrics: raw.metrics,
    timeouts: {
      clientMs: raw.timeouts.client,
      serverMs: raw.timeouts.server,
      connectMs: raw.timeouts.connect,
      queueMs: raw.timeouts.queue,
      shutdownMs: raw.timeouts.shutdown,
      graceMs: raw.timeouts.grace,
    },
    admin: raw.admin,
    stateFile: raw.stateFile === null ? null : resolve(raw.stateFile),
    acme:
      raw.acme === null
        ? null
        : {
            directory: raw.acme.directory,
            email: raw.acme.email,
            storage: resolve(raw.acme.storage),
            ca: raw.acme.ca === null ? null : resolve(raw.acme.ca),
            renewBeforeMs: raw.acme.renewBefore,
            eab: raw.acme.eab,
            backoff: { minMs: raw.acme.backoff.min, maxMs: raw.acme.backoff.max },
          },
    frontends: raw.frontends.map((frontend) => ({
      ...frontend,
      alpn: frontend.tls === null ? [] : (frontend.alpn ?? ['h2', 'http/1.1']),
      headers: toHeaderRules(frontend.headers),
      errorPages: toErrorPages(frontend.errorPages),
      proxyProtocol:
        frontend.proxyProtocol === null || frontend.proxyProtocol.trusted.length === 0
          ? null
          : { trusted: frontend.proxyProtocol.trusted, timeoutMs: frontend.proxyProtocol.timeout },
      limits:
        frontend.limits === null
          ? null
          : {
              ...frontend.limits,
              requestRate:
                frontend.limits.requestRate === null
                  ? null
                  : {
                      rate: frontend.limits.requestRate.rate,
                      perMs: frontend.limits.requestRate.per,
                      burst: frontend.limits.requestRate.burst ?? frontend.limits.requestRate.rate,
                    },
            },
      hsts:
        frontend.hsts === null
          ? null
          : { maxAgeMs: frontend.hsts.maxAge, includeSubDomains: frontend.hsts.includeSubDomains, preload: frontend.hsts.preload },
      routes: frontend.routes.map((route, i) => ({
        name: route.name ?? `#${i + 1}`,
        headers: toHeaderRules(route.headers),
        match: { host: route.match.host, path: route.match.path, methods: route.match.method, header: route.match.header },
        action:
          route.backend !== null
            ? { kind: 'backend' as const, backend: route.backend, stripPrefix: route.stripPrefix }
            : route.redirect !== null
              ? { kind: 'redirect' as const, ...route.redirect }
              : { kind: 'respond' as const, ...route.respond! },
      })),
      tls:
        frontend.tls === null
          ? null
          : {
              certs: frontend.tls.certs.map((pair) => ({ cert: resolve(pair.cert), key: resolve(pair.key) })),
              minVersion: frontend.tls.minVersion,
              acme: frontend.tls.acme,
            },
    })),
    backends: raw.backends.map((backend) => ({
      name: backend.name,
      balance: backend.balance,
      cookie:
        backend.cookie === null
          ? null
          : {
              name: backend.cookie.name,
              mode: backend.cookie.mode,
              indirect: backend.cookie.indirect,
              nocache: backend.cookie.nocache,
              httpOnly: backend.cookie.httpOnly,
              secure: backend.cookie.secure,
              secret: backend.cookie.secret,
              sameSite: backend.cookie.sameSite,
              maxIdleMs: backend.cookie.maxIdle,
              maxLifeMs: backend.cookie.maxLife,
            },
      retries: backend.retries,
      redispatch: backend.redispatch,
      protocol: backend.protocol,
      headers: toHeaderRules(backend.headers),
      errorPages: toErrorPages(backend.errorPages),
      forwardFor: backend.forwardFor,
      check:
        backend.check === null
          ? null
          : {
              path: backend.check.path,
              intervalMs: backend.check.interval,
              timeoutMs: backend.check.timeout,
              rise: backend.check.rise,
              fall: backend.check.fall,
              expect: backend.check.expect,
              fastinterMs: backend.check.fastinter,
              downinterMs: backend.check.downinter,
              observe: backend.check.observe,
              errorLimit: backend.check.errorLimit,
              onError: backend.check.onError,
            },
      slowStartMs: backend.slowStart,
      servers: backend.servers.map((server) => ({
        protocol: backend.protocol,
        slowStartMs: backend.slowStart,
        name: server.name,
        address: server.address,
        tls:
          server.tls === null
            ? null
            : {
                ...server.tls,
                ca: server.tls.ca === null ? null : resolve(server.tls.ca),
                cert: server.tls.cert === null ? null : resolve(server.tls.cert),
                key: server.tls.key === null ? null : resolve(server.tls.key),
              },
        proxyProtocol: server.proxyProtocol,
        maxconn: server.maxconn,
        weight: server.weight,
        cookie: server.cookie ?? server.name,
      })),
    })),
  };
}

// ---- Cross-field rules, run on the raw document so they report alongside schema problems.

type Path = readonly (string | number)[];
type Rec = Readonly<Record<string, unknown>>;

function rec(value: unknown): Rec | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Rec) : undefined;
}

function list(value: unknown): readonly unknown[] {
  return Array.isArray(value) ? value : [];
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function checkRules(document: unknown): Problem[] {
  const root = rec(document);
  if (root === undefined) return [];
  return [
    ...uniqueValues(list(root.frontends), ['frontends'], (fe) => str(rec(fe)?.name), 'name', 'name'),
    ...uniqueValues(list(root.backends), ['backends'], (be) => str(rec(be)?.name), 'name', 'name'),
    ...frontendRules(root),
    ...acmeRules(root),
    ...listenerRules(root),
    ...adminRules(root),
    ...list(root.backends).flatMap((backend, i) => backendRules(rec(backend), ['backends', i])),
  ];
}

// Reports every item whose key (e.g. its name) an earlier item already has.
function uniqueValues(
  items: readonly unknown[],
  base: Path,
  keyOf: (item: unknown) => string | undefined,
  field: string,
  what: string,
): Problem[] {
  const first = new Map<string, number>();
  const problems: Problem[] = [];
  items.forEach((item, i) => {
    const key = keyOf(item);
    if (key === undefined) return;
    const seen = first.get(key);
    if (seen === undefined) first.set(key, i);
    else problems.push({ path: [...base, i, field], message: `duplicate ${what} "${key}", also used by ${[...base, seen].join('.')}` });
  });
  return problems;
}

function frontendRules(root: Rec): Problem[] {
  const backendNames = new Set(list(root.backends).map((be) => str(rec(be)?.name)));
  const frontends = list(root.frontends);
  const anyTls = frontends.some((fe) => isSet(rec(fe)?.tls));
  return frontends.flatMap((item, i): Problem[] => {
    const fe = rec(item);
    if (fe === undefined) return [];
    const at = ['frontends', i];
    const problems: Problem[] = [];
    if (isSet(fe.backend) && isSet(fe.redirect)) {
      problems.push({ path: at, message: 'set either backend or redirect, not both' });
    } else if (!isSet(fe.backend) && !isSet(fe.redirect) && list(fe.routes).length === 0) {
      problems.push({ path: at, message: 'needs a backend, a redirect or routes' });
    }
    problems.push(...routeRules(list(fe.routes), [...at, 'routes'], backendNames));
    const backend = str(fe.backend);
    if (backend !== undefined && !backendNames.has(backend)) {
      problems.push({ path: [...at, 'backend'], message: `unknown backend "${backend}"` });
    }
    if (fe.redirect === 'https' && isSet(fe.tls)) {
      problems.push({ path: [...at, 'redirect'], message: '"https" is only allowed on a frontend without tls' });
    }
    if (isSet(fe.hsts) && !isSet(fe.tls)) {
      problems.push({ path: [...at, 'hsts'], message: 'needs tls: browsers ignore Strict-Transport-Security over plain HTTP' });
    }
    if (isSet(fe.alpn) && !isSet(fe.tls)) {
      problems.push({ path: [...at, 'alpn'], message: 'needs tls: plain-text HTTP/2 (h2c) is not offered' });
    }
    if (fe.redirect === 'https' && !anyTls) {
      problems.push({ path: [...at, 'redirect'], message: '"https" needs a frontend with tls' });
    }
    return problems;
  });
}

function routeRules(routes: readonly unknown[], at: Path, backendNames: ReadonlySet<string | undefined>): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<string, number>();
  routes.forEach((item, i) => {
    const route = rec(item);
    if (route === undefined) return;
    const here = [...at, i];
    const actions = ['backend', 'redirect', 'respond'].filter((key) => isSet(route[key]));
    if (actions.length !== 1) problems.push({ path: here, message: 'set exactly one of backend, redirect or respond' });
    const backend = str(route.backend);
    if (backend !== undefined && !backendNames.has(backend))
      problems.push({ path: [...here, 'backend'], message: `unknown backend "${backend}"` });
    const match = rec(route.match);
    if (route.stripPrefix === true && (backend === undefined || !isSet(match?.path))) {
      problems.push({ path: [...here, 'stripPrefix'], message: 'needs a backend and match.path' });
    }
    const redirect = rec(route.redirect);
    const to = str(redirect?.to);
    if (to !== undefined && (/[\r\n]/.test(to) || !/^(https?:\/\/[^/\s]+)?\/?\S*$/.test(to))) {
      problems.push({
        path: [...here, 'redirect', 'to'],
        message: 'expected an absolute http(s) URL or a path, without spaces or line breaks',
      });
    }
    const respond = rec(route.respond);
    for (const key of ['type'] as const) {
      const value = str(respond?.[key]);
      if (value !== undefined && /[\r\n]/.test(value))
        problems.push({ path: [...here, 'respond', key], message: 'must not contain CR or LF' });
    }
    const header = rec(match?.header);
    const headerValue = str(header?.value);
    if (headerValue !== undefined && /[\r\n\0]/.test(headerValue))
      problems.push({ path: [...here, 'match', 'header', 'value'], message: 'must not contain CR, LF or NUL' });
    const key = JSON.stringify(match ?? {});
    const earlier = seen.get(key);
    if (earlier !== undefined)
      problems.push({ path: [...here, 'match'], message: `same match as ${[...at, earlier].join('.')}: this route can never match` });
    else seen.set(key, i);
  });
  return problems;
}

// ACME: a CA to order from, a listener the challenge can reach, one certificate per name.
function acmeRules(root: Rec): Problem[] {
  const problems: Problem[] = [];
  const frontends = list(root.frontends);
  const anyPlain = frontends.some((fe) => rec(fe) !== undefined && !isSet(rec(fe)?.tls));
  const owner = new Map<string, { at: string; domains: string }>();
  frontends.forEach((item, i) => {
    const tls = rec(rec(item)?.tls);
    const acme = rec(tls?.acme);
    const at = ['frontends', i, 'tls'];
    if (tls !== undefined && acme === undefined && list(tls.certs).length === 0) {
      problems.push({ path: [...at, 'certs'], message: 'must have at least 1 item (or set tls.acme)' });
    }
    if (acme === undefined) return;
    if (!isSet(root.acme)) problems.push({ path: [...at, 'acme'], message: 'needs the top-level acme section (the CA to order from)' });
    if ((acme.challenge ?? 'http-01') === 'http-01' && !anyPlain) {
      problems.push({
        path: [...at, 'acme', 'challenge'],
        message: 'http-01 needs a plain-HTTP frontend (port 80) to answer on; use tls-alpn-01 or add one',
      });
    }
    const domains = list(acme.domains).flatMap((d) => (typeof d === 'string' ? [d.toLowerCase()] : []));
    const key = domains.join(',');
    for (const [j, domain] of domains.entries()) {
      const earlier = owner.get(domain);
      if (earlier !== undefined && earlier.domains !== key) {
        problems.push({
          path: [...at, 'acme', 'domains', j],
          message: `"${domain}" is also in ${earlier.at} with other names: a name gets one certificate, list the same names there`,
        });
      } else if (earlier === undefined) owner.set(domain, { at: [...at, 'acme', 'domains'].join('.'), domains: key });
    }
  });
  return problems;
}

interface Listener {
  readonly path: Path;
  readonly bind: HostPort;
}

// No two listeners (frontends and admin) on the same address, unless the port is 0.
function listenerRules(root: Rec): Problem[] {
  const candidates: { path: Path; text: string | undefined }[] = list(root.frontends).map((fe, i) => ({
    path: ['frontends', i, 'bind'],
    text: str(rec(fe)?.bind),
  }));
  const admin = adminBind(root);
  if (admin !== undefined) candidates.push({ path: ['admin', 'bind'], text: admin });
  const listeners: Listener[] = [];
  const problems: Problem[] = [];
  for (const { path: at, text } of candidates) {
    const bind = text === undefined ? undefined : tryParse(() => parseHostPort(text, 0));
    if (bind === undefined) continue;
    const clash = listeners.find((other) => overlaps(other.bind, bind));
    if (clash !== undefined) {
      problems.push({ path: at, message: `already used by ${clash.path.join('.')} (${showHostPort(clash.bind)})` });
    }
    listeners.push({ path: at, bind });
  }
  return problems;
}

// The admin bind as written, the default when admin or admin.bind is omitted, undefined when disabled.
function adminBind(root: Rec): string | undefined {
  if (root.admin === null) return undefined;
  const admin = rec(root.admin);
  if (root.admin !== undefined && admin === undefined) return undefined;
  return admin?.bind === undefined ? '127.0.0.1:9090' : str(admin.bind);
}

function overlaps(a: HostPort, b: HostPort): boolean {
  if (a.port === 0 || a.port !== b.port) return false;
  const [x, y] = [a.host.toLowerCase(), b.host.toLowerCase()];
  if (x === y || x === '::' || y === '::') return true;
  // 0.0.0.0 takes the port on every IPv4 address (and on hostnames, which may resolve to one).
  return (x === '0.0.0.0' && isIP(y) !== 6) || (y === '0.0.0.0' && isIP(x) !== 6);
}

function showHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** True for 127.0.0.0/8, ::1 and localhost: addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  if (host.toLowerCase() === 'localhost') return true;
  const family = isIP(host);
  return family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6');
}

function adminRules(root: Rec): Problem[] {
  const text = adminBind(root);
  const bind = text === undefined ? undefined : tryParse(() => parseHostPort(text, 0));
  if (bind === undefined || isLoopback(bind.host)) return [];
  const token = rec(root.admin)?.token;
  if (typeof token === 'string' && token !== '') return [];
  return [{ path: ['admin', 'token'], message: 'required when admin.bind is not a loopback address' }];
}

function backendRules(backend: Rec | undefined, at: Path): Problem[] {
  if (backend === undefined) return [];
  const servers = list(backend.servers);
  const names = uniqueValues(servers, [...at, 'servers'], (s) => str(rec(s)?.name), 'name', 'name');
  const duplicateNames = new Set(names.map((problem) => problem.path[at.length + 1]));
  const cookies = uniqueValues(
    servers,
    [...at, 'servers'],
    (s) => str(rec(s)?.cookie) ?? str(rec(s)?.name),
    'cookie',
    'cookie value',
  ).filter((problem) => {
    // A duplicate name already explains a duplicate default cookie value.
    const index = problem.path[at.length + 1] as number;
    return !duplicateNames.has(index) || rec(servers[index])?.cookie !== undefined;
  });
  const problems = [...names, ...cookies];
  servers.forEach((server, i) => {
    const tls = rec(rec(server)?.tls);
    if (isSet(tls?.cert) !== isSet(tls?.key))
      problems.push({ path: [...at, 'servers', i, 'tls'], message: 'set both cert and key for mutual TLS, or neither' });
  });
  if (backend.protocol === 'h2') {
    servers.forEach((server, i) => {
      if (!isSet(rec(server)?.tls))
        problems.push({ path: [...at, 'servers', i, 'tls'], message: 'protocol h2 needs tls (plain-text h2c to servers is not offered)' });
    });
  }
  const check = rec(backend.check);
  if (check !== undefined) {
    const interval = tryParse(() => durationOf(check.interval, 2_000));
    const timeout = tryParse(() => durationOf(check.timeout, 1_000));
    if (interval !== undefined && timeout !== undefined && timeout > interval) {
      problems.push({
        path: [...at, 'check', 'timeout'],
        message: `must not exceed check.interval (${formatDuration(interval)})`,
      });
    }
  }
  const cookie = rec(backend.cookie);
  if (cookie?.sameSite === 'None' && cookie.secure === false) {
    problems.push({ path: [...at, 'cookie', 'sameSite'], message: 'None requires secure: true or auto' });
  }
  return problems;
}

function durationOf(value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' && typeof value !== 'number') throw new Error('not a duration');
  return parseDuration(value);
}

function tryParse<T>(parse: () => T): T | undefined {
  try {
    return parse();
  } catch {
    return undefined;
  }
}
