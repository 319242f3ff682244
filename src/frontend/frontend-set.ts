// Every frontend of the running config: its listener, TLS and the facts its requests
// carry. A reload keeps a socket whose bind did not change (new certificates and
// handlers on it), drains frontends it removed and binds new ones.
import type { Logger } from 'pino';
import type { FrontendConfig, HstsConfig, TimeoutsConfig } from '../config/types.js';
import type { ExchangeContext } from '../exchange/exchange.js';
import type { FrontendFacts } from '../exchange/request-head.js';
import { rawErrorResponse } from '../h1/front/raw-response.js';
import type { AbuseReason } from '../h2/session-guard.js';
import { createStreamFront } from '../h2/stream-front.js';
import { ClientLimits, type LimitReason } from '../limits/client-limits.js';
import type { ProxyReadErrorCode } from '../proxy-protocol/read-header.js';
import { createFrontendTls, type DynamicCertificates, type FrontendTls } from '../tls/frontend.js';
import type { PemPair } from '../tls/self-signed.js';
import { acceptPolicyOf } from './accept.js';
import type { ConnectionGate } from './connection-gate.js';
import type { FrontendStats } from './frontend-stats.js';
import { createListener, type Listener, type ListenerHandlers } from './listener.js';

/** A frontend at runtime. */
interface RunningFrontend {
  listener: Listener;
  /** What its requests carry; `port` is filled in once bound (a configured 0 included). */
  facts: { -readonly [K in keyof FrontendFacts]: FrontendFacts[K] };
  bound: boolean;
  /** Set when a reload removed the frontend: answers close their connection. */
  retired: boolean;
  /** Its per-client limit table, kept across reloads while the frontend has limits. */
  limits: ClientLimits | null;
}

/** The frontends of a config with their certificates read: made before anything changes, so a bad file changes nothing. */
export interface FrontendPlan {
  readonly configs: readonly FrontendConfig[];
  readonly tls: ReadonlyMap<string, FrontendTls | null>;
}

export interface FrontendSetOptions {
  readonly logger: Logger;
  readonly gate: ConnectionGate;
  readonly stats: FrontendStats;
  /** `debug` in a worker: the primary logs the one `listening` line operators read. */
  readonly listeningLevel: 'info' | 'debug';
  /** What a frontend's requests share under the config in force: route, observers, drain state, its client limits. */
  exchange(frontend: FrontendConfig, facts: FrontendFacts, retired: () => boolean, limits: ClientLimits | null): ExchangeContext;
  readonly requestId: () => string;
  /** Who hears of connection-level events (counts, metrics). */
  readonly events: readonly FrontendEvents[];
}

/** What the listeners report besides requests; a listener implements what it counts. */
export interface FrontendEvents {
  /** A frontend was created: its counters start at 0. */
  frontendAdded?(frontend: string): void;
  /** A client connection opened (+1) or closed (-1). */
  connection?(frontend: string, delta: 1 | -1): void;
  tlsHandshakeError?(frontend: string): void;
  /** An HTTP/2 stream opened. */
  http2Stream?(frontend: string): void;
  /** An HTTP/2 connection was closed for abuse. */
  http2Abuse?(frontend: string, reason: AbuseReason): void;
  /** A request the listener could not parse (answered 400, 408 or 431 there). */
  requestError?(frontend: string): void;
  /** A client refused by the frontend's limits: a connection closed at accept, or a request answered 429. */
  limitRejected?(frontend: string, reason: LimitReason): void;
  /** A trusted peer's PROXY header was missing, malformed or late: its connection was closed. */
  proxyProtocolError?(frontend: string, code: ProxyReadErrorCode): void;
}

/** Two binds are the same socket. Port 0 stays "the same" across a reload: the operator did not change it. */
function bindKey(frontend: FrontendConfig): string {
  return `${frontend.bind.host}|${frontend.bind.port}|${frontend.tls ? 'tls' : 'plain'}`;
}

function factsOf(frontend: FrontendConfig, port: number): FrontendFacts {
  return {
    name: frontend.name,
    proto: frontend.tls ? 'https' : 'http',
    port: String(port),
    headers: frontend.headers,
    hsts: hstsValue(frontend.hsts),
  };
}

/** `max-age=31536000; includeSubDomains; preload`, or null. */
export function hstsValue(hsts: HstsConfig | null): string | null {
  if (!hsts) return null;
  return `max-age=${Math.floor(hsts.maxAgeMs / 1000)}${hsts.includeSubDomains ? '; includeSubDomains' : ''}${hsts.preload ? '; preload' : ''}`;
}

/** Where ACME certificates come from, and the stand-in for a frontend that has only those. */
export interface FrontendCertificateSources {
  readonly dynamic: DynamicCertificates;
  placeholder(names: readonly string[]): PemPair;
}

/** Reads the certificates of `configs`; throws before anything changes if one cannot be read. */
export function planFrontends(configs: readonly FrontendConfig[], ticketKeys: Buffer, sources?: FrontendCertificateSources): FrontendPlan {
  const tls = new Map<string, FrontendTls | null>();
  for (const frontend of configs) {
    const config = frontend.tls;
    const placeholder = sources && config?.acme ? () => sources.placeholder(config.acme!.domains) : undefined;
    tls.set(frontend.name, config ? createFrontendTls(config, { ticketKeys, dynamic: sources?.dynamic, placeholder }) : null);
  }
  return { configs, tls };
}

export class FrontendSet {
  readonly #options: FrontendSetOptions;
  #timeouts: TimeoutsConfig;
  #frontends = new Map<string, RunningFrontend>();
  readonly #retiring = new Set<RunningFrontend>();
  #listening = false;

  constructor(plan: FrontendPlan, timeouts: TimeoutsConfig, options: FrontendSetOptions) {
    this.#options = options;
    this.#timeouts = timeouts;
    for (const frontend of plan.configs) this.#frontends.set(frontend.name, this.#start(frontend, plan.tls.get(frontend.name)!));
  }

  /** Binds every frontend, one `listening` line each. */
  async listen(): Promise<void> {
    for (const running of this.#frontends.values()) await this.#bind(running);
    this.#listening = true;
  }

  /** The port a frontend is bound to; throws when it is not listening. */
  port(name: string): number {
    const running = this.#frontends.get(name);
    if (!running?.bound) throw new Error(`frontend ${name} is not listening`);
    return Number(running.facts.port);
  }

  /** The port a frontend is bound to, else its configured one. */
  portOr(name: string, configured: number): number {
    return Number(this.#frontends.get(name)?.facts.port ?? configured);
  }

  /**
   * Swaps in a reload's frontends: kept binds in place, removed ones drain, new ones
   * bind. Resolves with the binds that failed (the next reload tries them again).
   */
  async apply(plan: FrontendPlan, timeouts: TimeoutsConfig): Promise<string[]> {
    this.#timeouts = timeouts;
    const byBind = new Map<string, RunningFrontend>();
    // One that failed to bind is not kept: the reload tries it again.
    for (const running of this.#frontends.values())
      if (running.bound || !this.#listening) byBind.set(bindKey(running.listener.config), running);
    const problems: string[] = [];
    const next = new Map<string, RunningFrontend>();
    const pending: Array<[FrontendConfig, RunningFrontend]> = [];
    for (const frontend of plan.configs) {
      const tls = plan.tls.get(frontend.name)!;
      const kept = byBind.get(bindKey(frontend));
      if (kept) {
        byBind.delete(bindKey(frontend));
        kept.facts = factsOf(frontend, Number(kept.facts.port));
        kept.listener.update(frontend, tls, timeouts, this.#handlersOf(frontend, kept));
        next.set(frontend.name, kept);
      } else {
        const running = this.#start(frontend, tls);
        next.set(frontend.name, running);
        pending.push([frontend, running]);
      }
    }
    const keptSet = new Set(next.values());
    for (const running of this.#frontends.values()) if (!keptSet.has(running)) this.#retire(running);
    this.#frontends = next;
    if (this.#listening) {
      for (const [frontend, running] of pending) {
        try {
          await this.#bind(running);
        } catch (err) {
          problems.push(
            `frontends.${plan.configs.indexOf(frontend)}.bind: cannot listen on ${frontend.bind.host}:${frontend.bind.port}: ${(err as Error).message}`,
          );
        }
      }
    }
    const { stats } = this.#options;
    stats.setConfigs(plan.configs);
    for (const running of this.#frontends.values())
      if (running.bound) stats.listening(running.listener.config.name, Number(running.facts.port));
    return problems;
  }

  /** No new connection on any listener; those held past `maxconn` are closed. */
  stopAccepting(): void {
    this.#options.gate.dropWaiting();
    for (const listener of this.#listeners()) listener.stopAccepting();
  }

  /** Closes keep-alive connections that wait for a request. */
  closeIdle(): void {
    for (const listener of this.#listeners()) listener.closeIdle();
  }

  /** Closes every client connection, in flight or not. */
  closeAll(): void {
    for (const listener of this.#listeners()) listener.closeAll();
  }

  #listeners(): Listener[] {
    return [...this.#frontends.values(), ...this.#retiring].map((f) => f.listener);
  }

  /** The HTTP/1.1 fronts of a frontend, with the config in force. */
  #handlersOf(frontend: FrontendConfig, running: RunningFrontend): ListenerHandlers {
    const { requestId, events, logger } = this.#options;
    const name = frontend.name;
    running.limits = this.#limitsOf(frontend, running.limits);
    const exchange = this.#options.exchange(frontend, running.facts, () => running.retired, running.limits);
    const accept = acceptPolicyOf(frontend, running.limits, (code, peer) => {
      events.forEach((e) => e.proxyProtocolError?.(name, code));
      logger.warn({ frontend: name, peer, err: code }, 'PROXY header refused: connection closed');
    });
    const front = { exchange, clientTimeoutMs: this.#timeouts.clientMs, requestId };
    return {
      accept,
      rawError: (status) => rawErrorResponse(status, exchange.errorPages?.response(status, name, null), running.facts.hsts),
      stream: createStreamFront({ ...front, streamOpened: () => events.forEach((e) => e.http2Stream?.(name)) }),
      connections: (delta) => events.forEach((e) => e.connection?.(name, delta)),
      tlsError: () => events.forEach((e) => e.tlsHandshakeError?.(name)),
      http2Abuse: (reason) => events.forEach((e) => e.http2Abuse?.(name, reason)),
      clientError: () => events.forEach((e) => e.requestError?.(name)),
      h1Front: { exchange, requestId },
    };
  }

  /** The frontend's limit table under `frontend`'s limits: the same one reconfigured, a new one, or none. */
  #limitsOf(frontend: FrontendConfig, table: ClientLimits | null): ClientLimits | null {
    if (frontend.limits === null) return null;
    if (table !== null) {
      table.configure(frontend.limits);
      return table;
    }
    const { events, logger } = this.#options;
    const name = frontend.name;
    return new ClientLimits(frontend.limits, (reason, client, summary) => {
      events.forEach((e) => e.limitRejected?.(name, reason));
      // One line per client per interval, with the rejections it stands for.
      if (summary !== null) logger.warn({ frontend: name, client, reason, rejected: summary.rejected }, 'client over its limit');
      else if (reason === 'deny') logger.debug({ frontend: name, client, reason }, 'client refused');
    });
  }

  #start(frontend: FrontendConfig, tls: FrontendTls | null): RunningFrontend {
    const { logger, gate, events } = this.#options;
    const running = { facts: factsOf(frontend, frontend.bind.port), bound: false, retired: false, limits: null } as RunningFrontend;
    running.listener = createListener(frontend, tls, this.#timeouts, this.#handlersOf(frontend, running), logger, gate);
    for (const e of events) e.frontendAdded?.(frontend.name);
    return running;
  }

  async #bind(running: RunningFrontend): Promise<void> {
    const { listener } = running;
    const port = await listener.listen();
    // X-Forwarded-Port is the real port, known now.
    running.facts.port = String(port);
    running.bound = true;
    const { config } = listener;
    this.#options.stats.listening(config.name, port);
    this.#options.logger[this.#options.listeningLevel](
      { frontend: config.name, address: config.bind.host, port, tls: config.tls !== null },
      'listening',
    );
  }

  /** Stops a removed frontend: no new connection, idle ones closed, the rest after timeouts.shutdown. */
  #retire(running: RunningFrontend): void {
    running.retired = true;
    this.#retiring.add(running);
    const { listener } = running;
    listener.stopAccepting();
    listener.closeIdle();
    const timer = setTimeout(() => {
      listener.closeAll();
      this.#retiring.delete(running);
    }, this.#timeouts.shutdownMs);
    timer.unref();
    this.#options.logger.info({ frontend: listener.config.name }, 'frontend removed: draining');
  }
}
