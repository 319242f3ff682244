import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { checkConfigFiles } from '../../src/config/check.js';
import { formatDuration, parseDuration } from '../../src/config/duration.js';
import { applyOverrides, loadConfig, parseConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';

const NO_RULES = { request: { set: [], add: [], remove: [] }, response: { set: [], add: [], remove: [] } };

const FILE = '/etc/doorman/lb.yaml';

// The example config from SPEC.md, verbatim.
const SPEC_EXAMPLE = `
workers: 1                    # integer or "auto" (one per CPU core)
maxconn: 20000                # global limit of concurrent client connections
log: { level: info, access: true, format: json }   # format: json | haproxy (httplog line)
metrics: { haproxyCompat: false }   # true: also export the HAProxy exporter's metric names
timeouts:
  client: 60s                 # idle client connection, and time to receive request headers
  server: 60s                 # backend silent this long once the request is sent -> 504
  connect: 5s                 # TCP + TLS handshake to a backend
  queue: 10s                  # waiting for a free server slot -> 503
  shutdown: 30s               # drain time on SIGTERM
admin:
  bind: 127.0.0.1:9090        # /metrics, /stats, /api/...
  token: null                 # if set: "Authorization: Bearer TOKEN" needed on every /api route
acme:                         # automatic certificates; omit for none
  directory: https://acme.example/directory   # the CA's ACME directory URL
  email: ops@example.com
  storage: var/acme           # account key, certificates; files 0600, written atomically
  ca: null                    # extra trust anchor for the directory's TLS (a test CA such as Pebble)
  renewBefore: null           # default: when a third of the lifetime is left (or the CA's renewal window)
  eab: null                   # { kid, hmacKey } for CAs that require external account binding
stateFile: var/state.json     # operator state (MAINT/DRAIN/weight) survives restarts

frontends:
  - name: https
    bind: 0.0.0.0:8443
    tls:
      certs:                  # first is the default; others are picked by SNI
        - { cert: certs/lb.crt, key: certs/lb.key }
      minVersion: TLSv1.2
      acme:                   # certificates for these names come from \`acme\` (listed after \`certs\`,
        domains: [shop.example, www.shop.example]    # picked by SNI); challenge: http-01 | tls-alpn-01
        challenge: http-01
    proxyProtocol: { trusted: [] }   # accept PROXY protocol v1/v2 from these CIDRs only (omit: off)
    limits:                   # per client address (IPv6 grouped by /64); omit for none
      connections: 100        # concurrent connections per client; over it: closed at accept
      requestRate: { rate: 50, per: 1s, burst: 100 }   # over it: 429 with Retry-After
      allow: []               # CIDRs; if non-empty, everyone else is refused
      deny: []                # CIDRs refused (403 on the first request, or closed at accept)
    backend: web
  - name: http
    bind: 0.0.0.0:8080
    backend: web              # or: redirect: https  (308 to the https frontend)

backends:
  - name: web
    balance: leastconn        # leastconn | roundrobin | source
    cookie:                   # omit for no persistence
      name: WEBSERVERID
      mode: insert
      indirect: true          # the cookie is stripped before the request reaches a server
      nocache: true           # a response that sets the cookie gets Cache-Control: private
      httpOnly: true
      secure: auto            # Secure on https frontends
      secret: null            # if set, the cookie value is opaque and HMAC-signed
    retries: 3                # connect-phase failures retried, on another server if redispatch
    redispatch: true
    forwardFor:
      except: null            # CIDR whose clients get no X-Forwarded-For
      trusted: []             # CIDRs whose own X-Forwarded-For is kept and appended to
    check:                    # omit for no active checks
      path: /health
      interval: 2s
      timeout: 1s
      rise: 2
      fall: 3
      expect: 200
    servers:
      - name: web1
        address: 127.0.0.1:9441
        tls:                  # omit for plain HTTP to this server
          ca: certs/web1.crt  # trust anchor, e.g. the server's own self-signed cert
          pins: []            # optional "sha256/BASE64" SPKI pins; any match is enough
          servername: web1    # SNI and the name checked against the cert
        proxyProtocol: null   # v1 | v2: send the client's address in a PROXY header
        maxconn: 5000
        weight: 1
        cookie: web1          # default: the server's name
`;

/** A config document, edited freely (also into shapes the schema rejects). */
type Obj = Record<string, unknown>;
interface Doc extends Obj {
  frontends: Obj[];
  backends: (Obj & { servers: Obj[] })[];
}

/** The smallest valid document: one plain frontend, one backend, one server. */
function minimal(): Doc {
  return {
    frontends: [{ name: 'http', bind: '127.0.0.1:8080', backend: 'web' }],
    backends: [{ name: 'web', servers: [{ name: 'web1', address: '127.0.0.1:9441' }] }],
  };
}

/** The minimal document changed by `edit`. */
function withEdit(edit: (doc: Doc) => void): Doc {
  const doc = minimal();
  edit(doc);
  return doc;
}

/** The problems parseConfig reports for `doc` (YAML text or an object), [] if valid. */
function problemsOf(doc: Doc | string, file = FILE): readonly string[] {
  try {
    parseConfig(typeof doc === 'string' ? doc : YAML.stringify(doc), file);
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems;
  }
}

function parse(doc: Doc | string, file = FILE): Config {
  return parseConfig(typeof doc === 'string' ? doc : YAML.stringify(doc), file);
}

describe('parseConfig defaults', () => {
  it('fills every default into a minimal config', () => {
    expect(parse(minimal())).toEqual({
      file: FILE,
      workers: 1,
      maxconn: 20000,
      log: { level: 'info', access: true, format: 'json' },
      metrics: { haproxyCompat: false },
      timeouts: { clientMs: 60000, serverMs: 60000, connectMs: 5000, queueMs: 10000, shutdownMs: 30000, graceMs: 0 },
      admin: { bind: { host: '127.0.0.1', port: 9090 }, token: null, allowedHosts: [], allow: [] },
      stateFile: null,
      acme: null,
      frontends: [
        {
          name: 'http',
          bind: { host: '127.0.0.1', port: 8080 },
          tls: null,
          backend: 'web',
          redirect: null,
          routes: [],
          headers: NO_RULES,
          errorPages: {},
          hsts: null,
          alpn: [],
          http2: { maxConcurrentStreams: 100, maxHeaderListSize: 65536, maxResetsPerSecond: 100 },
          proxyProtocol: null,
          limits: null,
        },
      ],
      backends: [
        {
          name: 'web',
          balance: 'leastconn',
          cookie: null,
          retries: 3,
          redispatch: true,
          protocol: 'http1',
          headers: NO_RULES,
          errorPages: {},
          forwardFor: { except: null, trusted: [] },
          check: null,
          slowStartMs: 0,
          servers: [
            {
              protocol: 'http1',
              slowStartMs: 0,
              name: 'web1',
              address: { host: '127.0.0.1', port: 9441 },
              tls: null,
              proxyProtocol: null,
              maxconn: 0,
              weight: 1,
              cookie: 'web1',
            },
          ],
        },
      ],
    });
  });

  it('fills the defaults of empty cookie, check, tls and admin sections', () => {
    const config = parse(
      withEdit((doc) => {
        doc.admin = { token: 's3cret' };
        doc.backends[0]!.cookie = {};
        doc.backends[0]!.check = {};
        doc.backends[0]!.servers[0]!.tls = {};
      }),
    );
    expect(config.admin).toEqual({ bind: { host: '127.0.0.1', port: 9090 }, token: 's3cret', allowedHosts: [], allow: [] });
    const backend = config.backends[0]!;
    expect(backend.cookie).toEqual({
      name: 'WEBSERVERID',
      mode: 'insert',
      indirect: true,
      nocache: true,
      httpOnly: true,
      secure: 'auto',
      secret: null,
      sameSite: null,
      maxIdleMs: null,
      maxLifeMs: null,
    });
    expect(backend.check).toEqual({
      path: '/health',
      intervalMs: 2000,
      timeoutMs: 1000,
      rise: 2,
      fall: 3,
      expect: 200,
      fastinterMs: null,
      downinterMs: null,
      observe: 'none',
      errorLimit: 10,
      onError: 'mark-down',
    });
    expect(backend.servers[0]!.tls).toEqual({ ca: null, pins: [], servername: null, cert: null, key: null });
  });

  it('disables the admin listener with admin: null', () => {
    expect(parse(withEdit((doc) => (doc.admin = null))).admin).toBeNull();
  });

  it('parses the HAProxy-style extra keys', () => {
    const config = parse(
      withEdit((doc) => {
        doc.workers = 'auto';
        doc.backends[0]!.cookie = { sameSite: 'Lax', maxIdle: '30m', maxLife: '8h', secure: false };
        doc.backends[0]!.check = { fastinter: '500ms', downinter: '10s', observe: 'layer7', errorLimit: 5, onError: 'fastinter' };
        doc.backends[0]!.forwardFor = { except: '10.0.0.1', trusted: ['192.168.0.0/16', '::1', '2001:db8::/32'] };
        doc.backends[0]!.servers[0]!.tls = { pins: [`sha256/${Buffer.alloc(32, 7).toString('base64')}`] };
      }),
    );
    const backend = config.backends[0]!;
    expect(config.workers).toBe('auto');
    expect(backend.cookie).toMatchObject({ sameSite: 'Lax', maxIdleMs: 1_800_000, maxLifeMs: 28_800_000, secure: false });
    expect(backend.check).toMatchObject({ fastinterMs: 500, downinterMs: 10_000, observe: 'layer7', errorLimit: 5, onError: 'fastinter' });
    // A bare address becomes a /32 or /128 CIDR.
    expect(backend.forwardFor).toEqual({ except: '10.0.0.1/32', trusted: ['192.168.0.0/16', '::1/128', '2001:db8::/32'] });
    expect(backend.servers[0]!.tls!.pins).toHaveLength(1);
  });

  it('reads PROXY protocol and limits: burst defaults to rate, bare addresses become CIDRs', () => {
    const config = parse(
      withEdit((doc) => {
        doc.frontends[0].proxyProtocol = { trusted: ['10.0.0.0/8', '::1'], timeout: '2s' };
        doc.frontends[0].limits = { requestRate: { rate: 20, per: '1m' }, deny: ['192.0.2.7'], allow: ['2001:db8::/32'], tableSize: 5000 };
        doc.backends[0].servers[0].proxyProtocol = 'v2';
      }),
    );
    expect(config.frontends[0]!.proxyProtocol).toEqual({ trusted: ['10.0.0.0/8', '::1/128'], timeoutMs: 2000 });
    expect(config.frontends[0]!.limits).toEqual({
      connections: null,
      requestRate: { rate: 20, perMs: 60_000, burst: 20 },
      allow: ['2001:db8::/32'],
      deny: ['192.0.2.7/32'],
      tableSize: 5000,
    });
    expect(config.backends[0]!.servers[0]!.proxyProtocol).toBe('v2');
  });

  it('parses IPv6 binds and addresses, and port 0 listeners that share a host', () => {
    const config = parse(
      withEdit((doc) => {
        doc.frontends = [
          { name: 'a', bind: '[::1]:0', backend: 'web' },
          { name: 'b', bind: '[::1]:0', backend: 'web' },
        ];
        doc.admin = { bind: '[::1]:0' };
        doc.backends[0]!.servers[0]!.address = '[fd00::2]:443';
      }),
    );
    expect(config.frontends[0]!.bind).toEqual({ host: '::1', port: 0 });
    expect(config.backends[0]!.servers[0]!.address).toEqual({ host: 'fd00::2', port: 443 });
  });
});

describe('the SPEC.md example', () => {
  it('parses, with durations in ms and paths resolved against the config folder', () => {
    const config = parse(SPEC_EXAMPLE);
    expect(config.timeouts).toEqual({ clientMs: 60000, serverMs: 60000, connectMs: 5000, queueMs: 10000, shutdownMs: 30000, graceMs: 0 });
    expect(config.stateFile).toBe('/etc/doorman/var/state.json');
    expect(config.frontends.map((f) => f.name)).toEqual(['https', 'http']);
    expect(config.frontends[0]!.tls).toEqual({
      certs: [{ cert: '/etc/doorman/certs/lb.crt', key: '/etc/doorman/certs/lb.key' }],
      minVersion: 'TLSv1.2',
      acme: { domains: ['shop.example', 'www.shop.example'], challenge: 'http-01' },
    });
    expect(config.acme).toEqual({
      directory: 'https://acme.example/directory',
      email: 'ops@example.com',
      storage: '/etc/doorman/var/acme',
      ca: null,
      renewBeforeMs: null,
      eab: null,
      backoff: { minMs: 60_000, maxMs: 43_200_000 },
    });
    expect(config.frontends[1]!.tls).toBeNull();
    // `trusted: []` trusts nobody: no PROXY protocol.
    expect(config.frontends[0]!.proxyProtocol).toBeNull();
    expect(config.frontends[0]!.limits).toEqual({
      connections: 100,
      requestRate: { rate: 50, perMs: 1000, burst: 100 },
      allow: [],
      deny: [],
      tableSize: 100_000,
    });
    const backend = config.backends[0]!;
    expect(backend.cookie?.name).toBe('WEBSERVERID');
    expect(backend.check?.intervalMs).toBe(2000);
    expect(backend.slowStartMs).toBe(0);
    expect(backend.servers[0]).toEqual({
      protocol: 'http1',
      slowStartMs: 0,
      name: 'web1',
      address: { host: '127.0.0.1', port: 9441 },
      tls: { ca: '/etc/doorman/certs/web1.crt', pins: [], servername: 'web1', cert: null, key: null },
      proxyProtocol: null,
      maxconn: 5000,
      weight: 1,
      cookie: 'web1',
    });
  });

  it('accepts redirect: https on the plain frontend', () => {
    const text = SPEC_EXAMPLE.replace('backend: web              # or', 'redirect: https  # or');
    expect(parse(text).frontends[1]).toMatchObject({ backend: null, redirect: 'https' });
  });
});

describe('parseConfig problems', () => {
  const cases: [string, Doc | string, string][] = [
    ['empty file', '', '(root): the config file is empty'],
    ['not a mapping', '- 1\n', '(root): expected mapping, got list'],
    ['frontends missing', withEdit((d: Obj) => delete d.frontends), 'frontends: required'],
    ['no frontend', withEdit((d) => (d.frontends = [])), 'frontends: at least one frontend is required'],
    ['frontends not a list', withEdit((d: Obj) => (d.frontends = { name: 'x' })), 'frontends: expected list, got mapping'],
    ['workers 0', withEdit((d) => (d.workers = 0)), 'workers: must be >= 1'],
    ['workers word', withEdit((d) => (d.workers = 'many')), 'workers: expected a positive integer or "auto"'],
    ['maxconn fraction', withEdit((d) => (d.maxconn = 1.5)), 'maxconn: expected integer, got 1.5'],
    [
      'log level',
      withEdit((d) => (d.log = { level: 'loud' })),
      'log.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "loud"',
    ],
    ['log format', withEdit((d) => (d.log = { format: 'text' })), 'log.format: expected one of "json", "haproxy", got "text"'],
    ['metrics flag', withEdit((d) => (d.metrics = { haproxyCompat: 'yes' })), 'metrics.haproxyCompat: expected boolean, got "yes"'],
    ['duration with a space', withEdit((d) => (d.timeouts = { client: '5 sec' })), 'timeouts.client: invalid duration "5 sec"'],
    [
      'duration of a wrong type',
      withEdit((d) => (d.timeouts = { server: true })),
      'timeouts.server: expected a duration such as 5s or integer milliseconds',
    ],
    ['zero connect timeout', withEdit((d) => (d.timeouts = { connect: 0 })), 'timeouts.connect: must be greater than 0'],
    ['timer overflow', withEdit((d) => (d.timeouts = { queue: '30d' })), 'timeouts.queue: must be at most 2147483647ms (about 24.8 days)'],
    ['state file empty', withEdit((d) => (d.stateFile = '')), 'stateFile: must not be empty'],
    ['admin bind without port', withEdit((d) => (d.admin = { bind: 'localhost' })), 'admin.bind: expected host:port'],
    [
      'admin public without token',
      withEdit((d) => (d.admin = { bind: '0.0.0.0:9090' })),
      'admin.token: required when admin.bind is not a loopback address',
    ],
    [
      'admin public with null token',
      withEdit((d) => (d.admin = { bind: '[::]:9090', token: null })),
      'admin.token: required when admin.bind is not a loopback address',
    ],
    ['frontend name missing', withEdit((d) => delete d.frontends[0].name), 'frontends.0.name: required'],
    [
      'frontend name with a slash',
      withEdit((d) => (d.frontends[0].name = 'a/b')),
      'frontends.0.name: must be letters, digits, ".", "_", ":" or "-"',
    ],
    ['bind missing', withEdit((d) => delete d.frontends[0].bind), 'frontends.0.bind: required'],
    ['bind as a number', withEdit((d) => (d.frontends[0].bind = 8080)), 'frontends.0.bind: expected host:port'],
    ['bind port too large', withEdit((d) => (d.frontends[0].bind = '127.0.0.1:65536')), 'frontends.0.bind: port must be 0..65535'],
    [
      'IPv6 without brackets',
      withEdit((d) => (d.frontends[0].bind = '::1:8080')),
      'frontends.0.bind: IPv6 addresses need brackets, e.g. [::1]:8443',
    ],
    ['bad IPv6', withEdit((d) => (d.frontends[0].bind = '[::g]:8080')), 'frontends.0.bind: invalid IPv6 address "::g"'],
    ['bad IPv4', withEdit((d) => (d.frontends[0].bind = '300.1.1.1:8080')), 'frontends.0.bind: invalid host "300.1.1.1"'],
    [
      'tls without certs',
      withEdit((d) => (d.frontends[0].tls = { certs: [] })),
      'frontends.0.tls.certs: must have at least 1 item (or set tls.acme)',
    ],
    [
      'proxyProtocol trusted not a CIDR',
      withEdit((d) => (d.frontends[0].proxyProtocol = { trusted: ['10.0.0.0/33'] })),
      'frontends.0.proxyProtocol.trusted.0: invalid CIDR "10.0.0.0/33"',
    ],
    [
      'proxyProtocol unknown key',
      withEdit((d) => (d.frontends[0].proxyProtocol = { trusted: [], version: 2 })),
      'frontends.0.proxyProtocol.version: unknown key',
    ],
    [
      'proxyProtocol zero timeout',
      withEdit((d) => (d.frontends[0].proxyProtocol = { trusted: ['::1'], timeout: 0 })),
      'frontends.0.proxyProtocol.timeout: must be greater than 0',
    ],
    ['limits connections 0', withEdit((d) => (d.frontends[0].limits = { connections: 0 })), 'frontends.0.limits.connections: must be >= 1'],
    [
      'limits rate missing',
      withEdit((d) => (d.frontends[0].limits = { requestRate: { per: '1s' } })),
      'frontends.0.limits.requestRate.rate: required',
    ],
    [
      'limits rate fraction',
      withEdit((d) => (d.frontends[0].limits = { requestRate: { rate: 0.5 } })),
      'frontends.0.limits.requestRate.rate: expected integer, got 0.5',
    ],
    [
      'limits burst 0',
      withEdit((d) => (d.frontends[0].limits = { requestRate: { rate: 5, burst: 0 } })),
      'frontends.0.limits.requestRate.burst: must be >= 1',
    ],
    [
      'limits per 0',
      withEdit((d) => (d.frontends[0].limits = { requestRate: { rate: 5, per: 0 } })),
      'frontends.0.limits.requestRate.per: must be greater than 0',
    ],
    [
      'limits deny not a CIDR',
      withEdit((d) => (d.frontends[0].limits = { deny: ['example.com'] })),
      'frontends.0.limits.deny.0: invalid CIDR "example.com"',
    ],
    [
      'limits allow not a list',
      withEdit((d) => (d.frontends[0].limits = { allow: '10.0.0.0/8' })),
      'frontends.0.limits.allow: expected list, got "10.0.0.0/8"',
    ],
    ['limits table size 0', withEdit((d) => (d.frontends[0].limits = { tableSize: 0 })), 'frontends.0.limits.tableSize: must be >= 1'],
    [
      'server proxyProtocol v3',
      withEdit((d) => (d.backends[0].servers[0].proxyProtocol = 'v3')),
      'backends.0.servers.0.proxyProtocol: expected one of "v1", "v2", got "v3"',
    ],
    [
      'tls without certs',
      withEdit((d) => (d.frontends[0].tls = { certs: [] })),
      'frontends.0.tls.certs: must have at least 1 item (or set tls.acme)',
    ],
    ['cert without key', withEdit((d) => (d.frontends[0].tls = { certs: [{ cert: 'a.crt' }] })), 'frontends.0.tls.certs.0.key: required'],
    [
      'TLS 1.1',
      withEdit((d) => (d.frontends[0].tls = { certs: [{ cert: 'a', key: 'b' }], minVersion: 'TLSv1.1' })),
      'frontends.0.tls.minVersion: expected one of "TLSv1.2", "TLSv1.3", got "TLSv1.1"',
    ],
    [
      'redirect to http',
      withEdit((d) => {
        delete d.frontends[0].backend;
        d.frontends[0].redirect = 'http';
      }),
      'frontends.0.redirect: expected "https", got "http"',
    ],
    [
      'backend and redirect',
      withEdit((d) => {
        d.frontends[0]!.redirect = 'https';
        d.frontends.push({ name: 'tls', bind: '127.0.0.1:8443', backend: 'web', tls: { certs: [{ cert: 'a', key: 'b' }] } });
      }),
      'frontends.0: set either backend or redirect, not both',
    ],
    ['neither backend nor redirect', withEdit((d) => delete d.frontends[0]!.backend), 'frontends.0: needs a backend, a redirect or routes'],
    ['unknown backend', withEdit((d) => (d.frontends[0]!.backend = 'api')), 'frontends.0.backend: unknown backend "api"'],
    [
      'redirect https without any tls frontend',
      withEdit((d) => d.frontends.push({ name: 'r', bind: '127.0.0.1:8081', redirect: 'https' })),
      'frontends.1.redirect: "https" needs a frontend with tls',
    ],
    [
      'redirect https on a tls frontend',
      withEdit(
        (d) => (d.frontends[0] = { name: 'r', bind: '127.0.0.1:8443', redirect: 'https', tls: { certs: [{ cert: 'a', key: 'b' }] } }),
      ),
      'frontends.0.redirect: "https" is only allowed on a frontend without tls',
    ],
    [
      'duplicate frontend name',
      withEdit((d) => d.frontends.push({ name: 'http', bind: '127.0.0.1:8081', backend: 'web' })),
      'frontends.1.name: duplicate name "http", also used by frontends.0',
    ],
    [
      'duplicate backend name',
      withEdit((d) => d.backends.push({ name: 'web', servers: [{ name: 'x', address: 'x:1' }] })),
      'backends.1.name: duplicate name "web", also used by backends.0',
    ],
    [
      'two frontends on one address',
      withEdit((d) => d.frontends.push({ name: 'b', bind: '127.0.0.1:8080', backend: 'web' })),
      'frontends.1.bind: already used by frontends.0.bind (127.0.0.1:8080)',
    ],
    [
      'a frontend under a wildcard bind',
      withEdit((d) => d.frontends.unshift({ name: 'any', bind: '0.0.0.0:8080', backend: 'web' })),
      'frontends.1.bind: already used by frontends.0.bind (0.0.0.0:8080)',
    ],
    [
      'admin on a frontend address',
      withEdit((d) => (d.admin = { bind: '127.0.0.1:8080' })),
      'admin.bind: already used by frontends.0.bind (127.0.0.1:8080)',
    ],
    [
      'alpn on a plain frontend',
      withEdit((d) => (d.frontends[0].alpn = ['h2'])),
      'frontends.0.alpn: needs tls: plain-text HTTP/2 (h2c) is not offered',
    ],
    ['alpn twice', withEdit((d) => (d.frontends[0].alpn = ['h2', 'h2'])), 'frontends.0.alpn: lists a protocol twice'],
    [
      'http2 header list too small',
      withEdit((d) => (d.frontends[0].http2 = { maxHeaderListSize: '1KB' })),
      'frontends.0.http2.maxHeaderListSize: must be between 1KiB and 16MiB',
    ],
    [
      'http2 size unit',
      withEdit((d) => (d.frontends[0].http2 = { maxHeaderListSize: '64 kilobytes' })),
      'frontends.0.http2.maxHeaderListSize: expected a size such as 64KiB, got "64 kilobytes"',
    ],
    [
      'http2 streams 0',
      withEdit((d) => (d.frontends[0].http2 = { maxConcurrentStreams: 0 })),
      'frontends.0.http2.maxConcurrentStreams: must be >= 1',
    ],
    [
      'h2 to a plain server',
      withEdit((d) => (d.backends[0].protocol = 'h2')),
      'backends.0.servers.0.tls: protocol h2 needs tls (plain-text h2c to servers is not offered)',
    ],
    ['unknown protocol', withEdit((d) => (d.backends[0].protocol = 'h3')), 'backends.0.protocol: expected one of "http1", "h2", got "h3"'],
    ['negative slowStart', withEdit((d) => (d.backends[0].slowStart = '-5s')), 'backends.0.slowStart: invalid duration "-5s"'],
    [
      'slowStart of a wrong type',
      withEdit((d) => (d.backends[0].slowStart = true)),
      'backends.0.slowStart: expected a duration such as 5s or integer milliseconds',
    ],
    [
      'slowStart too long',
      withEdit((d) => (d.backends[0].slowStart = '30d')),
      'backends.0.slowStart: must be at most 2147483647ms (about 24.8 days)',
    ],
    [
      'route to an unknown backend',
      withEdit((d) => (d.frontends[0].routes = [{ match: { path: '/a' }, backend: 'nope' }])),
      'frontends.0.routes.0.backend: unknown backend "nope"',
    ],
    [
      'route with two actions',
      withEdit((d) => (d.frontends[0].routes = [{ backend: 'web', respond: { status: 200 } }])),
      'frontends.0.routes.0: set exactly one of backend, redirect or respond',
    ],
    [
      'redirect without to',
      withEdit((d) => (d.frontends[0].routes = [{ redirect: { status: 301 } }])),
      'frontends.0.routes.0.redirect.to: required',
    ],
    [
      'bad host pattern',
      withEdit((d) => (d.frontends[0].routes = [{ match: { host: 'shop.*' }, backend: 'web' }])),
      'frontends.0.routes.0.match.host: expected a host name such as shop.example or *.shop.example',
    ],
    [
      'duplicate route',
      withEdit(
        (d) =>
          (d.frontends[0].routes = [
            { match: { path: '/a' }, backend: 'web' },
            { match: { path: '/a' }, backend: 'web' },
          ]),
      ),
      'frontends.0.routes.1.match: same match as frontends.0.routes.0: this route can never match',
    ],
    [
      'header name not a token',
      withEdit((d) => (d.frontends[0].routes = [{ match: { header: { name: 'x y' } }, backend: 'web' }])),
      'frontends.0.routes.0.match.header.name: not a valid header name',
    ],
    [
      'respond type with CR LF',
      withEdit((d) => (d.frontends[0].routes = [{ respond: { status: 200, type: 'text/plain\r\nX: y' } }])),
      'frontends.0.routes.0.respond.type: must not contain CR or LF',
    ],
    [
      'stripPrefix without a path',
      withEdit((d) => (d.frontends[0].routes = [{ backend: 'web', stripPrefix: true }])),
      'frontends.0.routes.0.stripPrefix: needs a backend and match.path',
    ],
    [
      'hsts on a plain frontend',
      withEdit((d) => (d.frontends[0].hsts = { maxAge: '1y' })),
      'frontends.0.hsts: needs tls: browsers ignore Strict-Transport-Security over plain HTTP',
    ],
    [
      'header rule with an unknown variable',
      withEdit((d) => (d.frontends[0].headers = { request: { set: { 'X-A': '%{secret}' } } })),
      'frontends.0.headers.request.set.X-A: unknown variable: use %{client_ip}, %{request_id}, %{ssl} or %{server}',
    ],
    [
      'header rule value with CR LF',
      withEdit((d) => (d.backends[0].headers = { response: { add: { 'X-A': 'a\r\nSet-Cookie: x' } } })),
      'backends.0.headers.response.add.X-A: must not contain CR, LF or NUL',
    ],
    [
      'header rule name not a token',
      withEdit((d) => (d.backends[0].headers = { request: { remove: ['bad name'] } })),
      'backends.0.headers.request.remove.0: not a valid header name',
    ],
    [
      'error page for a status Doorman never answers',
      withEdit((d) => (d.backends[0].errorPages = { 418: 'teapot.html' })),
      'backends.0.errorPages: keys must be statuses Doorman answers: 400, 403, 404, 408, 429, 431, 500, 502, 503, 504',
    ],
    [
      'unknown balance',
      withEdit((d) => (d.backends[0].balance = 'random')),
      'backends.0.balance: expected one of "leastconn", "roundrobin", "source", got "random"',
    ],
    ['negative retries', withEdit((d) => (d.backends[0].retries = -1)), 'backends.0.retries: must be >= 0'],
    ['no servers', withEdit((d) => (d.backends[0].servers = [])), 'backends.0.servers: must have at least 1 item(s)'],
    [
      'server address without port',
      withEdit((d) => (d.backends[0].servers[0].address = '127.0.0.1')),
      'backends.0.servers.0.address: expected host:port',
    ],
    [
      'server address port 0',
      withEdit((d) => (d.backends[0].servers[0].address = '127.0.0.1:0')),
      'backends.0.servers.0.address: port must be 1..65535',
    ],
    [
      'server address port text',
      withEdit((d) => (d.backends[0].servers[0].address = '127.0.0.1:http')),
      'backends.0.servers.0.address: expected host:port',
    ],
    ['weight too high', withEdit((d) => (d.backends[0].servers[0].weight = 257)), 'backends.0.servers.0.weight: must be <= 256'],
    ['weight fraction', withEdit((d) => (d.backends[0].servers[0].weight = 0.5)), 'backends.0.servers.0.weight: expected integer, got 0.5'],
    ['negative maxconn', withEdit((d) => (d.backends[0].servers[0].maxconn = -1)), 'backends.0.servers.0.maxconn: must be >= 0'],
    [
      'cookie value with a space',
      withEdit((d) => (d.backends[0].servers[0].cookie = 'a b')),
      'backends.0.servers.0.cookie: not a valid cookie value',
    ],
    [
      'short pin',
      withEdit((d) => (d.backends[0].servers[0].tls = { pins: ['sha256/abc='] })),
      'backends.0.servers.0.tls.pins.0: expected "sha256/" followed by the base64 of 32 bytes',
    ],
    [
      'md5 pin',
      withEdit((d) => (d.backends[0].servers[0].tls = { pins: [`md5/${Buffer.alloc(32).toString('base64')}`] })),
      'backends.0.servers.0.tls.pins.0: expected "sha256/" followed by the base64 of 32 bytes',
    ],
    ['empty ca', withEdit((d) => (d.backends[0].servers[0].tls = { ca: '' })), 'backends.0.servers.0.tls.ca: must not be empty'],
    [
      'duplicate server name',
      withEdit((d) => d.backends[0]!.servers.push({ name: 'web1', address: '127.0.0.1:9442' })),
      'backends.0.servers.1.name: duplicate name "web1", also used by backends.0.servers.0',
    ],
    [
      'duplicate cookie value',
      withEdit((d) => d.backends[0]!.servers.push({ name: 'web2', address: '127.0.0.1:9442', cookie: 'web1' })),
      'backends.0.servers.1.cookie: duplicate cookie value "web1", also used by backends.0.servers.0',
    ],
    [
      'cookie secure yes',
      withEdit((d) => (d.backends[0].cookie = { secure: 'yes' })),
      'backends.0.cookie.secure: expected one of "auto", true, false, got "yes"',
    ],
    [
      'cookie name with a space',
      withEdit((d) => (d.backends[0].cookie = { name: 'MY ID' })),
      'backends.0.cookie.name: not a valid cookie name',
    ],
    [
      'cookie mode rewrite',
      withEdit((d) => (d.backends[0].cookie = { mode: 'rewrite' })),
      'backends.0.cookie.mode: expected "insert", got "rewrite"',
    ],
    [
      'sameSite lower case',
      withEdit((d) => (d.backends[0].cookie = { sameSite: 'strict' })),
      'backends.0.cookie.sameSite: expected one of "Strict", "Lax", "None", got "strict"',
    ],
    [
      'sameSite None without Secure',
      withEdit((d) => (d.backends[0].cookie = { sameSite: 'None', secure: false })),
      'backends.0.cookie.sameSite: None requires secure: true or auto',
    ],
    [
      'maxIdle words',
      withEdit((d) => (d.backends[0].cookie = { maxIdle: '1 day' })),
      'backends.0.cookie.maxIdle: invalid duration "1 day"',
    ],
    [
      'check timeout above interval',
      withEdit((d) => (d.backends[0].check = { interval: '1s', timeout: '1500ms' })),
      'backends.0.check.timeout: must not exceed check.interval (1s)',
    ],
    [
      'check default interval',
      withEdit((d) => (d.backends[0].check = { timeout: '3s' })),
      'backends.0.check.timeout: must not exceed check.interval (2s)',
    ],
    [
      'check path relative',
      withEdit((d) => (d.backends[0].check = { path: 'health' })),
      'backends.0.check.path: must be a path starting with /',
    ],
    ['check rise 0', withEdit((d) => (d.backends[0].check = { rise: 0 })), 'backends.0.check.rise: must be >= 1'],
    ['check expect 99', withEdit((d) => (d.backends[0].check = { expect: 99 })), 'backends.0.check.expect: must be >= 100'],
    [
      'check observe',
      withEdit((d) => (d.backends[0].check = { observe: 'layer8' })),
      'backends.0.check.observe: expected one of "none", "layer4", "layer7", got "layer8"',
    ],
    [
      'check onError',
      withEdit((d) => (d.backends[0].check = { onError: 'fail-check' })),
      'backends.0.check.onError: expected one of "mark-down", "fastinter", got "fail-check"',
    ],
    ['check errorLimit 0', withEdit((d) => (d.backends[0].check = { errorLimit: 0 })), 'backends.0.check.errorLimit: must be >= 1'],
    ['check fastinter', withEdit((d) => (d.backends[0].check = { fastinter: '1x' })), 'backends.0.check.fastinter: invalid duration "1x"'],
    [
      'except prefix too long',
      withEdit((d) => (d.backends[0].forwardFor = { except: '10.0.0.0/33' })),
      'backends.0.forwardFor.except: invalid CIDR "10.0.0.0/33"',
    ],
    [
      'trusted hostname',
      withEdit((d) => (d.backends[0].forwardFor = { trusted: ['10.0.0.0/8', 'proxy.local'] })),
      'backends.0.forwardFor.trusted.1: invalid CIDR "proxy.local"',
    ],
    [
      'trusted not a list',
      withEdit((d) => (d.backends[0].forwardFor = { trusted: '10.0.0.0/8' })),
      'backends.0.forwardFor.trusted: expected list, got "10.0.0.0/8"',
    ],
    [
      'acme frontend without the acme section',
      withAcme((d) => delete d.acme),
      'frontends.1.tls.acme: needs the top-level acme section (the CA to order from)',
    ],
    [
      'acme directory over http',
      withAcme((d) => (d.acme.directory = 'http://ca.example/dir')),
      "acme.directory: expected the https URL of the CA's ACME directory",
    ],
    [
      'acme directory not a URL',
      withAcme((d) => (d.acme.directory = 'letsencrypt')),
      "acme.directory: expected the https URL of the CA's ACME directory",
    ],
    ['acme storage missing', withAcme((d) => delete d.acme.storage), 'acme.storage: required'],
    ['acme email', withAcme((d) => (d.acme.email = 'ops')), 'acme.email: expected an email address'],
    ['acme renewBefore 0', withAcme((d) => (d.acme.renewBefore = 0)), 'acme.renewBefore: must be greater than 0'],
    [
      'acme eab key',
      withAcme((d) => (d.acme.eab = { kid: 'k', hmacKey: 'not base64!' })),
      'acme.eab.hmacKey: expected the base64url HMAC key the CA gave',
    ],
    ['acme eab without kid', withAcme((d) => (d.acme.eab = { hmacKey: 'abc' })), 'acme.eab.kid: required'],
    ['acme unknown key', withAcme((d) => (d.acme.server = 'x')), 'acme.server: unknown key'],
    [
      'acme wildcard',
      withAcme((d) => (d.frontends[1].tls.acme.domains = ['*.shop.example'])),
      'frontends.1.tls.acme.domains.0: wildcard names need the dns-01 challenge, which Doorman does not offer',
    ],
    [
      'acme IP address',
      withAcme((d) => (d.frontends[1].tls.acme.domains = ['192.0.2.1'])),
      'frontends.1.tls.acme.domains.0: expected a DNS name, not an IP address',
    ],
    [
      'acme single label',
      withAcme((d) => (d.frontends[1].tls.acme.domains = ['localhost'])),
      'frontends.1.tls.acme.domains.0: expected a DNS name such as shop.example',
    ],
    [
      'acme no domains',
      withAcme((d) => (d.frontends[1].tls.acme.domains = [])),
      'frontends.1.tls.acme.domains: must have at least 1 item(s)',
    ],
    [
      'acme name twice',
      withAcme((d) => (d.frontends[1].tls.acme.domains = ['shop.example', 'SHOP.example'])),
      'frontends.1.tls.acme.domains: lists a name twice',
    ],
    [
      'acme dns-01',
      withAcme((d) => (d.frontends[1].tls.acme.challenge = 'dns-01')),
      'frontends.1.tls.acme.challenge: expected one of "http-01", "tls-alpn-01", got "dns-01"',
    ],
    [
      'http-01 without a plain frontend',
      withAcme((d) => d.frontends.shift()),
      'frontends.0.tls.acme.challenge: http-01 needs a plain-HTTP frontend (port 80) to answer on; use tls-alpn-01 or add one',
    ],
    [
      'a name in two frontends with other names',
      withAcme((d) =>
        d.frontends.push({ name: 'alt', bind: '127.0.0.1:9443', backend: 'web', tls: { acme: { domains: ['www.shop.example'] } } }),
      ),
      'frontends.2.tls.acme.domains.0: "www.shop.example" is also in frontends.1.tls.acme.domains with other names: a name gets one certificate, list the same names there',
    ],
  ];

  /** A valid document with ACME: a plain frontend for http-01 and a TLS frontend whose names come from the CA. */
  /** The minimal document with `acme:` and a TLS frontend whose names come from it. */
  interface AcmeDoc extends Doc {
    acme: Obj;
    frontends: (Obj & { tls: { acme: Obj } })[];
  }
  function withAcme(edit: (doc: AcmeDoc) => void): Doc {
    const doc = minimal() as AcmeDoc;
    doc.acme = { directory: 'https://ca.example/dir', storage: 'var/acme' };
    doc.frontends.push({
      name: 'https',
      bind: '127.0.0.1:8443',
      backend: 'web',
      tls: { acme: { domains: ['shop.example', 'www.shop.example'] } },
    });
    edit(doc);
    return doc;
  }

  it('accepts ACME names without certs, and the same names in two frontends', () => {
    const doc = withAcme((d) =>
      d.frontends.push({
        name: 'alt',
        bind: '127.0.0.1:9443',
        backend: 'web',
        tls: { acme: { domains: ['shop.example', 'www.shop.example'], challenge: 'tls-alpn-01' } },
      }),
    );
    const config = parse(doc);
    expect(config.frontends[1]!.tls).toEqual({
      certs: [],
      minVersion: 'TLSv1.2',
      acme: { domains: ['shop.example', 'www.shop.example'], challenge: 'http-01' },
    });
    expect(config.acme).toMatchObject({ storage: '/etc/doorman/var/acme', renewBeforeMs: null, eab: null });
  });

  it.each(cases)('%s', (_name, doc, expected) => {
    expect(problemsOf(doc)).toEqual([expected]);
  });

  it('reports YAML syntax errors with their line and column', () => {
    expect(problemsOf('workers: 1\nlog: { level: info\nfrontends: []\n')).toEqual([
      expect.stringMatching(/^\/etc\/doorman\/lb\.yaml:3:\d+: /),
    ]);
    expect(problemsOf('workers: 1\nworkers: 2\n')).toEqual(['/etc/doorman/lb.yaml:2:1: Map keys must be unique']);
  });

  it('accepts YAML anchors and merge keys', () => {
    const text = [
      'frontends: [{ name: http, bind: "127.0.0.1:8080", backend: web }]',
      'backends:',
      '  - name: web',
      '    servers:',
      '      - &server { name: web1, address: "127.0.0.1:9441", maxconn: 100, weight: 3 }',
      '      - { <<: *server, name: web2, address: "127.0.0.1:9442" }',
      '',
    ].join('\n');
    expect(parse(text).backends[0]!.servers[1]).toMatchObject({ name: 'web2', maxconn: 100, weight: 3, cookie: 'web2' });
  });

  it('reports several problems at once, schema and cross-field together', () => {
    const doc = withEdit((d) => {
      d.workers = 'many';
      d.timeouts = { client: '5 sec' };
      d.frontends.push({ name: 'http', bind: '127.0.0.1:8080', backend: 'api' });
      d.backends[0]!.servers.push({ name: 'web2', address: 'nowhere' });
      d.backends[0]!.check = { interval: '1s', timeout: '2s' };
    });
    expect(problemsOf(doc)).toEqual([
      'workers: expected a positive integer or "auto"',
      'timeouts.client: invalid duration "5 sec"',
      'backends.0.servers.1.address: expected host:port',
      'frontends.1.name: duplicate name "http", also used by frontends.0',
      'frontends.1.backend: unknown backend "api"',
      'frontends.1.bind: already used by frontends.0.bind (127.0.0.1:8080)',
      'backends.0.check.timeout: must not exceed check.interval (1s)',
    ]);
  });

  it('does not add a cross-field problem on a key the schema already rejected', () => {
    const doc = withEdit((d) => (d.backends[0]!.check = { interval: 'soon', timeout: '2s' }));
    expect(problemsOf(doc)).toEqual(['backends.0.check.interval: invalid duration "soon"']);
  });

  it('names every unknown key, at every depth', () => {
    const doc = withEdit((d) => {
      d.wokers = 2;
      d.log = { level: 'info', colour: true };
      d.frontends[0]!.tlss = {};
      d.frontends[0]!.tls = { certs: [{ cert: 'a', key: 'b', chain: 'c' }], ciphers: 'x' };
      d.backends[0]!.cookie = { domain: 'example.com', path: '/' };
      d.backends[0]!.check = { method: 'HEAD' };
      d.backends[0]!.servers[0]!.tls = { verify: false };
      d.backends[0]!.servers[0]!.backup = true;
    });
    expect([...problemsOf(doc)].sort()).toEqual(
      [
        'wokers: unknown key',
        'log.colour: unknown key',
        'frontends.0.tlss: unknown key',
        'frontends.0.tls.ciphers: unknown key',
        'frontends.0.tls.certs.0.chain: unknown key',
        'backends.0.cookie.domain: unknown key',
        'backends.0.cookie.path: unknown key',
        'backends.0.check.method: unknown key',
        'backends.0.servers.0.tls.verify: unknown key',
        'backends.0.servers.0.backup: unknown key',
      ].sort(),
    );
  });
});

describe('durations', () => {
  const good: [string | number, number][] = [
    [0, 0],
    [250, 250],
    ['500ms', 500],
    ['5s', 5000],
    ['1.5s', 1500],
    ['0.25s', 250],
    ['2m', 120_000],
    ['8h', 28_800_000],
    ['1d', 86_400_000],
    [' 3s ', 3000],
  ];
  it.each(good)('parseDuration(%j) = %d', (input, ms) => {
    expect(parseDuration(input)).toBe(ms);
  });

  const bad: [string | number, string][] = [
    ['5 sec', 'invalid duration "5 sec"'],
    ['5', 'invalid duration "5"'],
    ['s', 'invalid duration "s"'],
    ['-1s', 'invalid duration "-1s"'],
    ['1w', 'invalid duration "1w"'],
    ['0.5ms', 'invalid duration "0.5ms"'],
    ['1e3ms', 'invalid duration "1e3ms"'],
    ['', 'invalid duration ""'],
    [1.5, 'invalid duration 1.5'],
    [-1, 'invalid duration -1'],
  ];
  it.each(bad)('parseDuration(%j) throws', (input, message) => {
    expect(() => parseDuration(input)).toThrow(message);
  });

  it('formats milliseconds back to the shortest unit', () => {
    expect([0, 1500, 2000, 120_000, 3_600_000, 86_400_000].map(formatDuration)).toEqual(['0ms', '1500ms', '2s', '2m', '1h', '1d']);
  });

  it("gives a backend's slowStart to the backend and each of its servers", () => {
    const config = parse(withEdit((d) => (d.backends[0].slowStart = '30s')));
    expect(config.backends[0]!.slowStartMs).toBe(30_000);
    expect(config.backends[0]!.servers.map((s) => s.slowStartMs)).toEqual([30_000]);
  });

  it('accepts integer milliseconds in the config', () => {
    expect(parse(withEdit((d) => (d.timeouts = { client: 1500, shutdown: 0 }))).timeouts).toMatchObject({
      clientMs: 1500,
      shutdownMs: 0,
    });
  });
});

describe('paths', () => {
  it('resolves cert, key, ca and stateFile against the config folder, keeps absolute ones', () => {
    const config = parse(
      withEdit((d) => {
        d.stateFile = '../var/state.json';
        d.frontends[0]!.tls = { certs: [{ cert: 'certs/lb.crt', key: '/secure/lb.key' }] };
        d.backends[0]!.servers[0]!.tls = { ca: './ca/web1.crt' };
      }),
      '/srv/doorman/conf/lb.yaml',
    );
    expect(config.file).toBe('/srv/doorman/conf/lb.yaml');
    expect(config.stateFile).toBe('/srv/doorman/var/state.json');
    expect(config.frontends[0]!.tls!.certs[0]).toEqual({ cert: '/srv/doorman/conf/certs/lb.crt', key: '/secure/lb.key' });
    expect(config.backends[0]!.servers[0]!.tls!.ca).toBe('/srv/doorman/conf/ca/web1.crt');
  });

  it('makes a relative config file name absolute', () => {
    const config = parse(
      withEdit((d) => (d.stateFile = 'state.json')),
      'conf/lb.yaml',
    );
    expect(config.file).toBe(path.resolve('conf/lb.yaml'));
    expect(config.stateFile).toBe(path.resolve('conf/state.json'));
  });
});

describe('the result', () => {
  it('is deep-frozen', () => {
    const config = parse(withEdit((d) => (d.backends[0]!.check = {})));
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { workers: unknown }).workers = 4;
    }).toThrow(TypeError);
    expect(() => {
      (config.backends[0]!.servers[0]!.address as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => {
      (config.frontends as unknown[]).push({});
    }).toThrow(TypeError);
    expect(() => {
      (config.backends[0]!.check as { intervalMs: number }).intervalMs = 1;
    }).toThrow(TypeError);
  });

  it('applyOverrides sets workers and returns a new frozen config', () => {
    const config = parse(minimal());
    const four = applyOverrides(config, { workers: '4' });
    expect(four.workers).toBe(4);
    expect(Object.isFrozen(four)).toBe(true);
    expect(config.workers).toBe(1);
    expect(applyOverrides(config, { workers: 'auto' }).workers).toBe('auto');
    expect(applyOverrides(config, { workers: 2 }).workers).toBe(2);
    expect(applyOverrides(config, {})).toBe(config);
    for (const bad of ['0', 'two', '1.5', -1]) {
      expect(() => applyOverrides(config, { workers: bad })).toThrow(ConfigError);
    }
    expect(() => applyOverrides(config, { workers: 'x' })).toThrow('--workers: expected a positive integer or "auto", got "x"');
  });
});

describe('loadConfig and checkConfigFiles', () => {
  let dir: string;
  // Two RSA key pairs with a self-signed certificate each, made once for this file.
  let a: { cert: string; key: string };
  let b: { cert: string; key: string };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'doorman-config-'));
    a = selfSigned('a.test');
    b = selfSigned('b.test');
    const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    await Promise.all([
      writeFile(path.join(dir, 'a.crt'), a.cert),
      writeFile(path.join(dir, 'a.key'), a.key),
      writeFile(path.join(dir, 'b.key'), b.key),
      writeFile(path.join(dir, 'ec.key'), ecKey),
      writeFile(path.join(dir, 'chain.crt'), a.cert + b.cert),
      writeFile(path.join(dir, 'garbage.crt'), 'hello, I am not a certificate\n'),
      writeFile(path.join(dir, 'broken.crt'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
      writeFile(path.join(dir, 'garbage.key'), '-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n'),
    ]);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes a config using these files (relative names) and loads it. */
  async function configWith(cert: string, key: string, ca: string): Promise<Config> {
    const doc = withEdit((d) => {
      d.frontends[0]!.tls = { certs: [{ cert, key }] };
      d.backends[0]!.servers[0]!.tls = { ca };
    });
    const file = path.join(dir, 'lb.yaml');
    await writeFile(file, YAML.stringify(doc));
    return loadConfig(file);
  }

  it('loadConfig reads a file and reports an unreadable one', async () => {
    const config = await configWith('a.crt', 'a.key', 'a.crt');
    expect(config.file).toBe(path.join(dir, 'lb.yaml'));
    expect(config.frontends[0]!.tls!.certs[0]!.cert).toBe(path.join(dir, 'a.crt'));
    const missing = path.join(dir, 'missing.yaml');
    await expect(loadConfig(missing)).rejects.toMatchObject({ problems: [`${missing}: cannot read the file (ENOENT)`] });
  });

  it('passes a matching pair and a readable CA', async () => {
    expect(await checkConfigFiles(await configWith('a.crt', 'a.key', 'a.crt'))).toEqual([]);
  });

  it('passes a chain whose first certificate matches the key, and a CA bundle', async () => {
    expect(await checkConfigFiles(await configWith('chain.crt', 'a.key', 'chain.crt'))).toEqual([]);
  });

  it('reports a key that does not match its certificate', async () => {
    expect(await checkConfigFiles(await configWith('a.crt', 'b.key', 'a.crt'))).toEqual([
      'frontends.0.tls.certs.0.key: does not match frontends.0.tls.certs.0.cert',
    ]);
    expect(await checkConfigFiles(await configWith('a.crt', 'ec.key', 'a.crt'))).toEqual([
      'frontends.0.tls.certs.0.key: does not match frontends.0.tls.certs.0.cert',
    ]);
  });

  it('reports missing files', async () => {
    const missing = path.join(dir, 'missing.pem');
    expect(await checkConfigFiles(await configWith('missing.pem', 'missing.pem', 'missing.pem'))).toEqual([
      `frontends.0.tls.certs.0.cert: cannot read ${missing} (ENOENT)`,
      `frontends.0.tls.certs.0.key: cannot read ${missing} (ENOENT)`,
      `backends.0.servers.0.tls.ca: cannot read ${missing} (ENOENT)`,
    ]);
  });

  it('reports garbage PEM', async () => {
    const problems = await checkConfigFiles(await configWith('garbage.crt', 'garbage.key', 'broken.crt'));
    expect(problems).toEqual([
      `frontends.0.tls.certs.0.cert: no PEM certificate in ${path.join(dir, 'garbage.crt')}`,
      expect.stringMatching(/^frontends\.0\.tls\.certs\.0\.key: invalid private key in .*garbage\.key: /),
      expect.stringMatching(/^backends\.0\.servers\.0\.tls\.ca: invalid certificate in .*broken\.crt: /),
    ]);
  });
});

/** A self-signed certificate and its RSA key, as PEM. */
function selfSigned(commonName: string): { cert: string; key: string } {
  const keys = forge.pki.rsa.generateKeyPair({ bits: 2048 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  const attrs = [{ name: 'commonName', value: commonName }];
  cert.setSubject(attrs);
  cert.setIssuer(attrs);
  cert.sign(keys.privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(keys.privateKey) };
}
