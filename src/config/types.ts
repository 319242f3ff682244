// The validated, resolved and frozen configuration every other module reads.
// Durations are milliseconds (`...Ms`), paths are absolute, defaults are filled in.

/** A host and port to listen on or connect to. `host` has no brackets for IPv6. */
export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
export type LogFormat = 'json' | 'haproxy';
export type BalanceAlgorithm = 'leastconn' | 'roundrobin' | 'source';
export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';
export type SameSite = 'Strict' | 'Lax' | 'None';
export type ObserveMode = 'none' | 'layer4' | 'layer7';
export type OnErrorAction = 'mark-down' | 'fastinter';
export type ProxyProtocolVersion = 'v1' | 'v2';

export interface LogConfig {
  readonly level: LogLevel;
  readonly access: boolean;
  readonly format: LogFormat;
}

export interface MetricsConfig {
  readonly haproxyCompat: boolean;
}

export interface TimeoutsConfig {
  /** Idle client connection, and time to receive the request headers. */
  readonly clientMs: number;
  /** Backend silent this long once the request is sent -> 504. */
  readonly serverMs: number;
  /** TCP + TLS handshake to a backend. */
  readonly connectMs: number;
  /** Waiting for a free server slot -> 503. */
  readonly queueMs: number;
  /** Drain time on SIGTERM. */
  readonly shutdownMs: number;
  /**
   * On SIGTERM, how long listeners keep accepting while /healthz already answers 503
   * (HAProxy's `grace`): time for keepalived or an outer balancer to move traffic away.
   */
  readonly graceMs: number;
}

export interface AdminConfig {
  readonly bind: HostPort;
  readonly token: string | null;
  /** Lower-case host names (or addresses) a request's Host may name, besides loopback and the bind address. */
  readonly allowedHosts: readonly string[];
  /** CIDRs allowed to connect; empty: any. */
  readonly allow: readonly string[];
}

export interface CertPair {
  /** Absolute path of the PEM certificate (chain). */
  readonly cert: string;
  /** Absolute path of the PEM private key. */
  readonly key: string;
}

export interface FrontendTlsConfig {
  /** The first pair is the default; the others are chosen by SNI. Empty only with `acme`. */
  readonly certs: readonly CertPair[];
  readonly minVersion: TlsVersion;
  /** Names whose certificates come from the ACME CA; null: none. */
  readonly acme: FrontendAcmeConfig | null;
}

/** How the CA validates a frontend's names: a token over plain HTTP (port 80), or a special certificate on the TLS port (443). */
export type AcmeChallengeType = 'http-01' | 'tls-alpn-01';

export interface FrontendAcmeConfig {
  /** Lower-case DNS names, one certificate for all of them; the first is its subject. */
  readonly domains: readonly string[];
  readonly challenge: AcmeChallengeType;
}

/** The ACME CA every `frontends[].tls.acme` orders from. */
export interface AcmeConfig {
  /** The https URL of the CA's directory. */
  readonly directory: string;
  readonly email: string | null;
  /** Absolute path of the folder holding the account key and the certificates. */
  readonly storage: string;
  /** Absolute path of extra PEM trust anchors for the directory's TLS; null: the system store. */
  readonly ca: string | null;
  /** Renew this long before expiry; null: when a third of the lifetime is left (or in the CA's ARI window). */
  readonly renewBeforeMs: number | null;
  /** External account binding, for CAs that require it. */
  readonly eab: { readonly kid: string; readonly hmacKey: string } | null;
  /** Delays between failed orders: doubling from min to max. */
  readonly backoff: { readonly minMs: number; readonly maxMs: number };
}

export interface FrontendConfig {
  readonly name: string;
  readonly bind: HostPort;
  /** null: plain HTTP. */
  readonly tls: FrontendTlsConfig | null;
  /** The fallback when no route matches: a backend, or the https redirect; neither → 404. */
  readonly backend: string | null;
  readonly redirect: 'https' | null;
  /** Tried in order; the first that matches decides. */
  readonly routes: readonly RouteConfig[];
  readonly headers: HeaderRules;
  /** Status → absolute path of the body served instead of the built-in text (also for errors before a backend is known). */
  readonly errorPages: ErrorPagesConfig;
  /** null: no Strict-Transport-Security (always null on a plain frontend). */
  readonly hsts: HstsConfig | null;
  /** Protocols offered by ALPN on a TLS frontend, preferred first; [] on a plain frontend. */
  readonly alpn: readonly AlpnProtocol[];
  readonly http2: Http2Config;
  /** null: no PROXY protocol (omitted, or no trusted peer). */
  readonly proxyProtocol: ProxyProtocolConfig | null;
  /** null: no per-client limits. */
  readonly limits: LimitsConfig | null;
}

/** PROXY protocol v1/v2 on a frontend: required from the trusted peers, never read from others. */
export interface ProxyProtocolConfig {
  /** CIDRs; never empty. */
  readonly trusted: readonly string[];
  /** The header must arrive within this long. */
  readonly timeoutMs: number;
}

/** Limits per client address (IPv6 by /64), counted per process. */
export interface LimitsConfig {
  /** Concurrent connections per client; null: no limit. */
  readonly connections: number | null;
  readonly requestRate: RequestRateConfig | null;
  /** CIDRs; when non-empty, only these clients are served. */
  readonly allow: readonly string[];
  /** CIDRs refused at accept. */
  readonly deny: readonly string[];
  /** Clients without an open connection remembered at most (their rate state). */
  readonly tableSize: number;
}

/** A token bucket per client: `burst` tokens, refilled at `rate` per `perMs`; a request takes one. */
export interface RequestRateConfig {
  readonly rate: number;
  readonly perMs: number;
  readonly burst: number;
}

export type AlpnProtocol = 'h2' | 'http/1.1';

/** What a route matches; null parts match anything. */
export interface RouteMatch {
  /** Lower-case `shop.example` (exact) or `*.shop.example` (any subdomain); the port is ignored. */
  readonly host: string | null;
  /** A prefix of the normalised path. */
  readonly path: string | null;
  readonly methods: readonly string[] | null;
  /** Present (value null) or equal to `value`. */
  readonly header: { readonly name: string; readonly value: string | null } | null;
}

export type RouteAction =
  | { readonly kind: 'backend'; readonly backend: string; readonly stripPrefix: boolean }
  | {
      readonly kind: 'redirect';
      readonly to: string;
      readonly status: 301 | 302 | 303 | 307 | 308;
      readonly keepPath: boolean;
      readonly keepQuery: boolean;
    }
  | { readonly kind: 'respond'; readonly status: number; readonly body: string; readonly type: string };

export interface RouteConfig {
  /** For logs, metrics and /api/state: the configured name, else `#1`, `#2`, ... */
  readonly name: string;
  readonly match: RouteMatch;
  readonly action: RouteAction;
  readonly headers: HeaderRules;
}

/** Header changes of one direction, applied in this order: remove, set, add. Names lower-case. */
export interface HeaderOps {
  readonly set: readonly (readonly [name: string, template: string])[];
  readonly add: readonly (readonly [name: string, template: string])[];
  readonly remove: readonly string[];
}

/** Header rules of a frontend, route or backend. */
export interface HeaderRules {
  readonly request: HeaderOps;
  readonly response: HeaderOps;
}

/** Status → absolute file path. */
export type ErrorPagesConfig = Readonly<Record<number, string>>;

/** Strict-Transport-Security on a TLS frontend. */
export interface HstsConfig {
  readonly maxAgeMs: number;
  readonly includeSubDomains: boolean;
  readonly preload: boolean;
}

/** HTTP/2 settings of a frontend (they apply to connections that negotiated h2). */
export interface Http2Config {
  /** SETTINGS_MAX_CONCURRENT_STREAMS: streams one client connection may have open. */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE, in bytes: a larger request head is refused. */
  readonly maxHeaderListSize: number;
  /** Streams a client may reset per second (rapid reset, CVE-2023-44487); past it: GOAWAY. */
  readonly maxResetsPerSecond: number;
}

export interface CookieConfig {
  readonly name: string;
  readonly mode: 'insert';
  readonly indirect: boolean;
  readonly nocache: boolean;
  readonly httpOnly: boolean;
  /** 'auto': Secure on https frontends. */
  readonly secure: 'auto' | boolean;
  readonly secret: string | null;
  readonly sameSite: SameSite | null;
  /** HAProxy's maxidle: a cookie not seen for this long is expired. */
  readonly maxIdleMs: number | null;
  /** HAProxy's maxlife: a cookie older than this is expired. */
  readonly maxLifeMs: number | null;
}

export interface ForwardForConfig {
  /** CIDR whose clients get no X-Forwarded-For. */
  readonly except: string | null;
  /** CIDRs whose own X-Forwarded-For is kept and appended to. */
  readonly trusted: readonly string[];
}

export interface CheckConfig {
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly rise: number;
  readonly fall: number;
  /** Expected status code. */
  readonly expect: number;
  /** Interval while a server is in transition (null: intervalMs). */
  readonly fastinterMs: number | null;
  /** Interval while a server is DOWN (null: intervalMs). */
  readonly downinterMs: number | null;
  /** Passive checks on live traffic. */
  readonly observe: ObserveMode;
  readonly errorLimit: number;
  readonly onError: OnErrorAction;
}

export interface ServerTlsConfig {
  /** Absolute path of the PEM trust anchor(s); null: the system store. */
  readonly ca: string | null;
  /** "sha256/BASE64" SPKI pins; empty: no pinning. */
  readonly pins: readonly string[];
  /** SNI and the name checked against the certificate; null: the address host. */
  readonly servername: string | null;
  /** Absolute paths of the client certificate and key presented to the server (mutual TLS); both or neither. */
  readonly cert: string | null;
  readonly key: string | null;
}

export interface ServerConfig {
  readonly name: string;
  readonly address: HostPort;
  /** null: plain HTTP to this server. */
  readonly tls: ServerTlsConfig | null;
  /** A PROXY protocol header sent first on each connection to the server; null: none. */
  readonly proxyProtocol: ProxyProtocolVersion | null;
  /** Concurrent requests; 0 = no limit. */
  readonly maxconn: number;
  readonly weight: number;
  /** Value of the persistence cookie for this server (default: its name). */
  readonly cookie: string;
  /** Its backend's `protocol`: how requests reach it. */
  readonly protocol: UpstreamProtocol;
  /** Its backend's `slowStart`: how long its weight ramps up when it comes back; 0 = no ramp. */
  readonly slowStartMs: number;
}

/** HTTP/1.1, or HTTP/2 (ALPN h2 over TLS, prior knowledge over plain TCP), e.g. for gRPC services. */
export type UpstreamProtocol = 'http1' | 'h2';

export interface BackendConfig {
  readonly name: string;
  readonly balance: BalanceAlgorithm;
  readonly cookie: CookieConfig | null;
  readonly retries: number;
  readonly redispatch: boolean;
  readonly protocol: UpstreamProtocol;
  readonly headers: HeaderRules;
  readonly errorPages: ErrorPagesConfig;
  readonly forwardFor: ForwardForConfig;
  readonly check: CheckConfig | null;
  /** A server coming back (UP, or READY from MAINT) ramps its weight over this time; 0 = at once. */
  readonly slowStartMs: number;
  readonly servers: readonly ServerConfig[];
}

export interface Config {
  /** Absolute path of the file this was read from. */
  readonly file: string;
  readonly workers: number | 'auto';
  readonly maxconn: number;
  readonly log: LogConfig;
  readonly metrics: MetricsConfig;
  readonly timeouts: TimeoutsConfig;
  /** null: no admin listener. */
  readonly admin: AdminConfig | null;
  /** Absolute path; null: operator state is not persisted. */
  readonly stateFile: string | null;
  /** null: no automatic certificates. */
  readonly acme: AcmeConfig | null;
  readonly frontends: readonly FrontendConfig[];
  readonly backends: readonly BackendConfig[];
}
