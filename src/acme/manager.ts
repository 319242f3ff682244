// The ACME side of the controlling process (the only one that talks to the CA): one
// managed certificate per list of names the frontends ask for. Each loads what the
// storage holds, orders when there is nothing valid, and renews on a schedule (ARI
// window, renewBefore, or a third of the lifetime left, with jitter); a failed attempt
// is retried with exponential backoff while the old certificate stays in use. Every
// attempt ends in one log line and one count. A reload keeps certificates, timers and
// orders in flight of names it keeps.
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Agent } from 'node:https';
import type { AcmeChallengeType, AcmeConfig, Config } from '../config/types.js';
import { MAX_TIMER_MS } from '../config/schema.js';
import { getJson } from './https-json.js';
import { ariCertificateId, fetchRenewalWindow, type RenewalWindow } from './ari.js';
import { createAccountKey, createCaClient, type CaClient } from './ca-client.js';
import { factsOf, leafOf, type CertificateFacts } from './certificate-facts.js';
import { orderCertificate, type Publish } from './order.js';
import { backoffDelay, renewalTime } from './schedule.js';
import { AcmeStore, type StoredCertificate } from './store.js';

/** How long an ARI answer is trusted before it is asked again (RFC 9773 suggests polling). */
const ARI_RECHECK_MS = 6 * 3_600_000;
const ARI_TIMEOUT_MS = 10_000;

export type RenewalResult = 'success' | 'failure';

/** A managed certificate as /api/certs and the stats page show it. */
export interface ManagedCertificateView {
  readonly domains: readonly string[];
  readonly challenge: AcmeChallengeType;
  /** Null until a certificate is there. */
  readonly facts: CertificateFacts | null;
  /** When the next order (renewal or retry) is due; null while one runs. */
  readonly nextAttempt: Date | null;
  readonly ordering: boolean;
  /** Consecutive failed attempts. */
  readonly failures: number;
  readonly lastError: string | null;
}

export interface AcmeManagerOptions {
  readonly logger: Logger;
  /** Hands a certificate or challenge to every serving process; resolves once they all have it. */
  readonly publish: Publish;
  /** Counts an attempt's result (lb_acme_renewals_total). */
  readonly renewal?: (result: RenewalResult) => void;
  /** [0, 1): the jitter's source (tests pin it). */
  readonly random?: () => number;
}

/** One list of names and its certificate. */
interface Managed {
  readonly key: string;
  readonly domains: readonly string[];
  challenge: AcmeChallengeType;
  stored: StoredCertificate | null;
  facts: CertificateFacts | null;
  timer: NodeJS.Timeout | null;
  nextAttemptMs: number | null;
  running: boolean;
  failures: number;
  lastError: string | null;
  /** Cleared when a reload drops these names or the CA changes: its results are then dropped. */
  live: boolean;
}

/** Everything that depends on the CA: storage, trust, the account. */
interface CaContext {
  readonly identity: string;
  readonly config: AcmeConfig;
  readonly store: AcmeStore;
  readonly ca: string | null;
  /** Trusts `acme.ca` for the GETs made outside acme-client (directory, renewalInfo); null: the system's trust. */
  readonly agent: Agent | null;
  /** The client with its account, made on the first order. */
  client: Promise<CaClient> | null;
  /** The directory's renewalInfo URL: undefined until read, null when the CA offers none. */
  renewalInfo: string | null | undefined;
}

function identityOf(config: AcmeConfig): string {
  return JSON.stringify([config.directory, config.storage, config.ca, config.eab, config.email]);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class AcmeManager {
  readonly #options: AcmeManagerOptions;
  readonly #logger: Logger;
  readonly #random: () => number;
  #context: CaContext | null = null;
  #managed = new Map<string, Managed>();
  #stopped = false;

  constructor(options: AcmeManagerOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#random = options.random ?? Math.random;
  }

  /** Start or reload: manages exactly the names `config`'s frontends ask for. */
  apply(config: Config): void {
    if (this.#stopped) return;
    const acmeConfig = config.acme;
    const wanted = new Map<string, { domains: readonly string[]; challenge: AcmeChallengeType }>();
    if (acmeConfig) {
      for (const frontend of config.frontends) {
        const acme = frontend.tls?.acme;
        if (acme) wanted.set(acme.domains.join(','), { domains: acme.domains, challenge: acme.challenge });
      }
    }
    if (!acmeConfig || this.#context?.identity !== identityOf(acmeConfig)) {
      // Another CA or storage: nothing carries over.
      for (const managed of this.#managed.values()) this.#drop(managed);
      this.#managed = new Map();
      this.#context?.agent?.destroy();
      this.#context = acmeConfig ? this.#createContext(acmeConfig) : null;
    } else {
      // Same CA: renewBefore and backoff apply from the next schedule.
      this.#context = { ...this.#context, config: acmeConfig };
    }
    for (const [key, managed] of this.#managed) {
      if (!wanted.has(key)) {
        this.#drop(managed);
        this.#managed.delete(key);
      }
    }
    for (const [key, { domains, challenge }] of wanted) {
      const managed = this.#managed.get(key);
      if (managed) {
        managed.challenge = challenge;
        // A new renewBefore applies now; a retry after failures keeps its backoff.
        if (!managed.running && managed.stored && managed.failures === 0) this.#scheduleRenewal(managed);
        continue;
      }
      const fresh: Managed = {
        key,
        domains,
        challenge,
        stored: null,
        facts: null,
        timer: null,
        nextAttemptMs: null,
        running: false,
        failures: 0,
        lastError: null,
        live: true,
      };
      this.#managed.set(key, fresh);
      this.#load(fresh).catch((err: unknown) => {
        // A stored certificate that could not be handed out: order a fresh one.
        this.#logger.error({ domains: fresh.domains, err: message(err) }, 'acme stored certificate cannot be used');
        if (fresh.live) this.#schedule(fresh, Date.now());
      });
    }
  }

  /** The managed certificates, in config order. */
  view(): ManagedCertificateView[] {
    return [...this.#managed.values()].map((m) => ({
      domains: m.domains,
      challenge: m.challenge,
      facts: m.facts,
      nextAttempt: m.nextAttemptMs === null ? null : new Date(m.nextAttemptMs),
      ordering: m.running,
      failures: m.failures,
      lastError: m.lastError,
    }));
  }

  /** Cancels every timer; orders in flight finish unheard. */
  stop(): void {
    this.#stopped = true;
    for (const managed of this.#managed.values()) this.#drop(managed);
    this.#context?.agent?.destroy();
  }

  #createContext(config: AcmeConfig): CaContext {
    // The trust anchor is read here: --check already reported an unreadable one.
    const ca = config.ca === null ? null : readFileSync(config.ca, 'utf8');
    return {
      identity: identityOf(config),
      config,
      store: new AcmeStore(config.storage, config.directory, this.#logger),
      ca,
      agent: ca === null ? null : new Agent({ ca }),
      client: null,
      renewalInfo: undefined,
    };
  }

  #drop(managed: Managed): void {
    managed.live = false;
    if (managed.timer) clearTimeout(managed.timer);
    managed.timer = null;
  }

  /** Reads the stored certificate: a valid one is served at once and renewed on schedule, else an order starts now. */
  async #load(managed: Managed): Promise<void> {
    const context = this.#context!;
    let stored: StoredCertificate | null = null;
    try {
      stored = await context.store.certificate(managed.domains);
    } catch (err) {
      this.#logger.error({ domains: managed.domains, err: message(err) }, 'acme storage cannot be read');
    }
    if (!managed.live) return;
    if (stored && factsOf(leafOf(stored.cert)).notAfter.getTime() > Date.now()) {
      await this.#install(managed, stored);
      this.#logger.info({ domains: managed.domains, notAfter: managed.facts?.notAfter }, 'acme certificate loaded from storage');
      this.#scheduleRenewal(managed);
    } else {
      this.#schedule(managed, Date.now());
    }
  }

  async #install(managed: Managed, stored: StoredCertificate): Promise<void> {
    managed.stored = stored;
    managed.facts = factsOf(leafOf(stored.cert));
    await this.#options.publish({ kind: 'certificate', domains: stored.domains, cert: stored.cert, key: stored.key });
  }

  /** Schedules the renewal of the certificate in hand. */
  #scheduleRenewal(managed: Managed): void {
    this.#renewalAt(managed).then(
      (at) => {
        if (managed.live && !managed.running) this.#schedule(managed, at);
      },
      (err: unknown) => this.#logger.error({ domains: managed.domains, err: message(err) }, 'acme renewal cannot be scheduled'),
    );
  }

  async #renewalAt(managed: Managed): Promise<number> {
    const context = this.#context!;
    const facts = managed.facts!;
    const validity = { notBeforeMs: facts.notBefore.getTime(), notAfterMs: facts.notAfter.getTime() };
    let window: RenewalWindow | null = null;
    const renewalInfo = await this.#renewalInfoUrl(context);
    if (renewalInfo) {
      try {
        window = await fetchRenewalWindow(renewalInfo, managed.stored!.cert, context.agent, ARI_TIMEOUT_MS);
      } catch (err) {
        this.#logger.debug({ domains: managed.domains, err: message(err) }, 'acme renewal information unavailable: using the lifetime');
      }
    }
    const at = renewalTime(validity, context.config.renewBeforeMs, window, this.#random());
    // With ARI the window is asked again later: the CA may move it (e.g. before a revocation).
    return window ? Math.min(at, Date.now() + ARI_RECHECK_MS) : at;
  }

  /** The directory's renewalInfo URL, read once per CA; null when it offers none or cannot be read. */
  async #renewalInfoUrl(context: CaContext): Promise<string | null> {
    if (context.renewalInfo !== undefined) return context.renewalInfo;
    try {
      const response = await getJson(context.config.directory, context.agent, ARI_TIMEOUT_MS);
      const directory = response.body as { renewalInfo?: unknown } | null;
      context.renewalInfo = typeof directory?.renewalInfo === 'string' ? directory.renewalInfo : null;
    } catch {
      return null; // the CA is down: asked again next time
    }
    return context.renewalInfo;
  }

  /** Arms the timer for an attempt at `atMs` (long waits in steps a Node timer can hold). */
  #schedule(managed: Managed, atMs: number): void {
    if (managed.timer) clearTimeout(managed.timer);
    managed.nextAttemptMs = atMs;
    const delay = Math.max(0, Math.min(atMs - Date.now(), MAX_TIMER_MS));
    managed.timer = setTimeout(() => {
      managed.timer = null;
      if (!managed.live) return;
      if (Date.now() < atMs) this.#schedule(managed, atMs);
      else void this.#attempt(managed);
    }, delay);
    managed.timer.unref();
  }

  /** One order: on success the new certificate is stored and served, on failure the old one stays and a retry is scheduled. */
  async #attempt(managed: Managed): Promise<void> {
    const context = this.#context!;
    managed.running = true;
    managed.nextAttemptMs = null;
    const renewing = managed.stored !== null;
    const startedAt = Date.now();
    try {
      const client = await this.#client(context);
      const replaces = renewing && (await this.#renewalInfoUrl(context)) ? tryCertificateId(managed.stored!.cert) : undefined;
      const issued = await orderCertificate(
        client,
        { domains: managed.domains, challenge: managed.challenge, ...(replaces ? { replaces } : {}) },
        this.#options.publish,
      );
      if (!managed.live) return;
      const stored: StoredCertificate = {
        directory: context.config.directory,
        domains: managed.domains,
        cert: issued.cert,
        key: issued.key,
      };
      await context.store.saveCertificate(stored);
      await this.#install(managed, stored);
      managed.running = false;
      managed.failures = 0;
      managed.lastError = null;
      this.#options.renewal?.('success');
      let next = await this.#renewalAt(managed);
      const minimum = Date.now() + context.config.backoff.minMs;
      if (next < minimum) next = minimum; // renewBefore longer than the lifetime: not a busy loop
      this.#logger.info(
        {
          domains: managed.domains,
          renewal: renewing,
          notAfter: managed.facts!.notAfter,
          nextRenewal: new Date(next),
          durationMs: Date.now() - startedAt,
        },
        'acme certificate issued',
      );
      if (managed.live) this.#schedule(managed, next);
    } catch (err) {
      managed.running = false;
      if (!managed.live) return;
      managed.failures += 1;
      managed.lastError = message(err);
      const retryInMs = backoffDelay(managed.failures, context.config.backoff.minMs, context.config.backoff.maxMs, this.#random());
      // A new account is made on the next attempt: the CA may have forgotten this one.
      if (/accountDoesNotExist|account.*does not exist/i.test(managed.lastError)) context.client = null;
      this.#options.renewal?.('failure');
      this.#logger.warn(
        {
          domains: managed.domains,
          renewal: renewing,
          attempt: managed.failures,
          err: managed.lastError,
          retryInMs,
          keepsServing: managed.stored !== null ? 'the current certificate' : 'the fallback certificate',
        },
        'acme order failed',
      );
      this.#schedule(managed, Date.now() + retryInMs);
    }
  }

  /** The client with its account: the stored one, else a new account (stored before use). */
  #client(context: CaContext): Promise<CaClient> {
    if (context.client) return context.client;
    const made = (async () => {
      const stored = await context.store.account();
      if (stored?.url) return createCaClient(context.config, context.ca, stored.key, stored.url);
      const key = stored?.key ?? (await createAccountKey());
      const client = await createCaClient(context.config, context.ca, key, null);
      const email = context.config.email;
      await client.createAccount({ termsOfServiceAgreed: true, ...(email !== null ? { contact: [`mailto:${email}`] } : {}) });
      await context.store.saveAccount({ directory: context.config.directory, key, url: client.getAccountUrl() });
      this.#logger.info({ directory: context.config.directory, account: client.getAccountUrl() }, 'acme account created');
      return client;
    })();
    context.client = made;
    // A failure is not kept: the next attempt tries again.
    made.catch(() => {
      if (context.client === made) context.client = null;
    });
    return made;
  }
}

function tryCertificateId(cert: string): string | undefined {
  try {
    return ariCertificateId(cert);
  } catch {
    return undefined;
  }
}
