// The persistence cookie (HAProxy's `cookie NAME insert indirect nocache [httponly]
// [secure] [maxidle] [maxlife]`): find which server a request's cookie names, remove
// the cookie before the request goes upstream, and write the Set-Cookie for a server.
//
// Cookie values (LAST and FIRST are cookie-date.ts dates: last seen, first issued):
//   no secret              SERVER                  the server's `cookie` value, e.g. `web1`
//   no secret + dates      SERVER|LAST[|FIRST]     HAProxy's own format; FIRST only with maxLife
//   secret                 TOKEN                   base64url(HMAC-SHA256(secret, SERVER))[:16 bytes], 22 chars
//   secret + dates         TOKEN|LAST[|FIRST]|MAC  MAC = base64url(HMAC-SHA256(secret,
//                                                  "doorman-cookie-dates\0" + TOKEN|LAST[|FIRST]))[:12 bytes], 16 chars
// "dates" means maxIdle or maxLife is set. Without a secret anyone can write any value,
// as with HAProxy; with one, a client can neither name a server it was not given nor
// move its dates, and a cookie missing a date the config needs is invalid (else dropping
// the dates would reset its life). A cookie in an older layout that still names a server
// validly (dates now unused, or FIRST missing without a secret) is accepted and re-set.

import { createHmac, timingSafeEqual } from 'node:crypto';
import type { CookieConfig } from '../config/types.js';
import { decodeDate, encodeDate } from './cookie-date.js';
import { findCookie, stripCookie } from './cookie-header.js';

/** HAProxy's request cookie flags: none, invalid, valid, expired ('D' for a down server is decided by the caller). */
export type RequestCookieFlag = 'N' | 'I' | 'V' | 'E';

/** What a request's persistence cookie says. */
export interface CookieLookup {
  flag: RequestCookieFlag;
  /** index into the server list when flag is 'V' */
  serverIndex: number;
  /** first-seen date (seconds) carried by the cookie, for maxLife, when valid */
  firstSeenSec?: number;
  /** true when a valid cookie should be re-set to refresh its last-seen date (maxIdle) */
  needsRefresh: boolean;
}

/** One backend's persistence cookie: reader, stripper and writer. */
export interface PersistenceCookie {
  /** Reads our cookie from the request's Cookie header (undefined/empty header allowed). */
  lookup(cookieHeader: string | undefined, nowMs: number): CookieLookup;
  /** The Cookie header to send upstream with our cookie removed (indirect); undefined when nothing is left. Others pass unchanged, in order. Returns the input unchanged (same string) when our cookie is not in it. */
  strip(cookieHeader: string): string | undefined;
  /** The full Set-Cookie header value for the server at serverIndex. */
  setCookie(serverIndex: number, opts: { secure: boolean; nowMs: number; firstSeenSec?: number }): string;
}

const TOKEN_BYTES = 16;
const TOKEN_LENGTH = 22; // base64url of 16 bytes
const TOKEN_PREFIX_LENGTH = 8;
const MAC_BYTES = 12;
const MAC_LENGTH = 16; // base64url of 12 bytes
const MAC_CONTEXT = 'doorman-cookie-dates\0';
/** A date further in the future than this is refused (HAProxy's rule). */
const MAX_FUTURE_MS = 86_400_000;
/** Longest wait before a maxIdle cookie's last-seen date is refreshed. */
const MAX_REFRESH_MS = 60_000;
/** RFC 6265 cookie-octet minus `|`, our date separator. */
const PLAIN_VALUE = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7b\x7d\x7e]+$/;

/** The persistence cookie of a backend whose servers have these `cookie` values (in server order). */
export function createPersistenceCookie(config: CookieConfig, serverCookies: readonly string[]): PersistenceCookie {
  return new Cookie(config, serverCookies);
}

class Cookie implements PersistenceCookie {
  readonly #name: string;
  readonly #secret: string | null;
  readonly #maxIdleMs: number | null;
  readonly #maxLifeMs: number | null;
  readonly #dated: boolean;
  readonly #refreshMs: number;
  /** `; Path=/...` without and with `; Secure`. */
  readonly #attributes: readonly [string, string];
  /** The server part of the value (SERVER or TOKEN), by server index. */
  readonly #values: readonly string[];
  /** Without secret: SERVER -> index. */
  readonly #byValue = new Map<string, number>();
  /** With secret: first characters of TOKEN -> indexes, confirmed by a constant-time compare. */
  readonly #byPrefix = new Map<string, number[]>();
  readonly #tokens: readonly Buffer[];

  constructor(config: CookieConfig, serverCookies: readonly string[]) {
    this.#name = config.name;
    this.#secret = config.secret;
    this.#maxIdleMs = config.maxIdleMs;
    this.#maxLifeMs = config.maxLifeMs;
    this.#dated = config.maxIdleMs !== null || config.maxLifeMs !== null;
    this.#refreshMs = Math.min((config.maxIdleMs ?? 0) / 4, MAX_REFRESH_MS);
    const base = `; Path=/${config.httpOnly ? '; HttpOnly' : ''}`;
    const sameSite = config.sameSite === null ? '' : `; SameSite=${config.sameSite}`;
    this.#attributes = [base + sameSite, `${base}; Secure${sameSite}`];

    const secret = config.secret;
    this.#values = serverCookies.map((cookie) => {
      if (secret !== null) return this.#mac(cookie, TOKEN_BYTES);
      if (!PLAIN_VALUE.test(cookie)) throw new TypeError(`server cookie value ${JSON.stringify(cookie)} is not a cookie value without "|"`);
      return cookie;
    });
    this.#tokens = this.#values.map((value) => Buffer.from(value, 'utf8'));
    this.#values.forEach((value, index) => {
      if (this.#values.indexOf(value) !== index) {
        throw new TypeError(`server cookie value ${JSON.stringify(serverCookies[index])} is used twice`);
      }
      if (secret === null) {
        this.#byValue.set(value, index);
        return;
      }
      const prefix = value.slice(0, TOKEN_PREFIX_LENGTH);
      const indexes = this.#byPrefix.get(prefix);
      if (indexes === undefined) this.#byPrefix.set(prefix, [index]);
      else indexes.push(index);
    });
  }

  lookup(cookieHeader: string | undefined, nowMs: number): CookieLookup {
    if (!cookieHeader) return none();
    const raw = findCookie(cookieHeader, this.#name);
    if (raw === undefined) return none();
    const bar = raw.indexOf('|');
    const serverIndex = this.#serverIndex(bar < 0 ? raw : raw.slice(0, bar));
    if (serverIndex < 0) return invalid();
    // Dates present but no longer configured: trust the server part, re-set without dates.
    if (!this.#dated) return { flag: 'V', serverIndex, needsRefresh: bar >= 0 };

    let dates: string[];
    if (this.#secret === null) {
      if (bar < 0) return { flag: 'V', serverIndex, needsRefresh: true }; // HAProxy: undated is accepted, then dated
      dates = raw.slice(bar + 1).split('|');
      if (dates.length > 2) return invalid();
    } else {
      if (bar < 0) return invalid();
      const macBar = raw.lastIndexOf('|');
      if (!this.#macMatches(raw.slice(0, macBar), raw.slice(macBar + 1))) return invalid();
      dates = macBar === bar ? [] : raw.slice(bar + 1, macBar).split('|');
      if (dates.length === 0 || dates.length > 2) return invalid();
      if (this.#maxLifeMs !== null && dates.length < 2) return invalid();
    }
    const lastSec = decodeDate(dates[0]!);
    const firstSec = dates.length > 1 ? decodeDate(dates[1]!) : undefined;
    if (lastSec === undefined || (dates.length > 1 && firstSec === undefined)) return invalid();
    return this.#checkDates(serverIndex, lastSec, firstSec, nowMs);
  }

  strip(cookieHeader: string): string | undefined {
    return stripCookie(cookieHeader, this.#name);
  }

  setCookie(serverIndex: number, opts: { secure: boolean; nowMs: number; firstSeenSec?: number }): string {
    let value = this.#values[serverIndex];
    if (value === undefined) throw new RangeError(`no server at cookie index ${serverIndex}`);
    if (this.#dated) {
      const nowSec = Math.floor(opts.nowMs / 1000);
      value += `|${encodeDate(nowSec)}`;
      if (this.#maxLifeMs !== null) value += `|${encodeDate(opts.firstSeenSec ?? nowSec)}`;
      if (this.#secret !== null) value += `|${this.#mac(MAC_CONTEXT + value, MAC_BYTES)}`;
    }
    return `${this.#name}=${value}${this.#attributes[opts.secure ? 1 : 0]}`;
  }

  /** The index of the server named by SERVER or TOKEN, or -1. */
  #serverIndex(candidate: string): number {
    if (this.#secret === null) return this.#byValue.get(candidate) ?? -1;
    if (candidate.length !== TOKEN_LENGTH) return -1;
    const indexes = this.#byPrefix.get(candidate.slice(0, TOKEN_PREFIX_LENGTH));
    if (indexes === undefined) return -1;
    const given = Buffer.from(candidate, 'utf8');
    for (const index of indexes) {
      if (given.length === this.#tokens[index]!.length && timingSafeEqual(given, this.#tokens[index]!)) return index;
    }
    return -1;
  }

  #macMatches(signed: string, mac: string): boolean {
    if (mac.length !== MAC_LENGTH) return false;
    const expected = Buffer.from(this.#mac(MAC_CONTEXT + signed, MAC_BYTES), 'utf8');
    const given = Buffer.from(mac, 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  #mac(data: string, bytes: number): string {
    return createHmac('sha256', this.#secret!).update(data).digest().subarray(0, bytes).toString('base64url');
  }

  #checkDates(serverIndex: number, lastSec: number, firstSec: number | undefined, nowMs: number): CookieLookup {
    const lastMs = lastSec * 1000;
    if (firstSec !== undefined && this.#maxLifeMs !== null) {
      const firstMs = firstSec * 1000;
      if (nowMs - firstMs > this.#maxLifeMs || firstMs - nowMs > MAX_FUTURE_MS) return expired();
    }
    if (this.#maxIdleMs !== null) {
      if (nowMs - lastMs > this.#maxIdleMs || lastMs - nowMs > MAX_FUTURE_MS) return expired();
    }
    // Re-set when the last-seen date is stale, or the layout is not the configured one.
    const layoutDiffers = (firstSec !== undefined) !== (this.#maxLifeMs !== null);
    const stale = this.#maxIdleMs !== null && nowMs - lastMs >= this.#refreshMs;
    const lookup: CookieLookup = { flag: 'V', serverIndex, needsRefresh: stale || layoutDiffers };
    if (firstSec !== undefined && this.#maxLifeMs !== null) lookup.firstSeenSec = firstSec;
    return lookup;
  }
}

function none(): CookieLookup {
  return { flag: 'N', serverIndex: -1, needsRefresh: false };
}

function invalid(): CookieLookup {
  return { flag: 'I', serverIndex: -1, needsRefresh: false };
}

function expired(): CookieLookup {
  return { flag: 'E', serverIndex: -1, needsRefresh: false };
}

/** nocache: the Cache-Control value to send with a response that sets the cookie: 'private' added unless it already has private or no-store. Returns undefined if no change is needed. */
export function privateCacheControl(existing: string | undefined): string | undefined {
  if (existing === undefined || existing.trim() === '') return 'private';
  const kept: string[] = [];
  let droppedPublic = false;
  for (const part of existing.split(',')) {
    const directive = part.trim();
    if (directive === '') continue;
    const equals = directive.indexOf('=');
    const name = (equals < 0 ? directive : directive.slice(0, equals)).trim().toLowerCase();
    if (name === 'private' || name === 'no-store') return undefined;
    if (name === 'public')
      droppedPublic = true; // contradicts private
    else kept.push(directive);
  }
  if (!droppedPublic) return `private, ${existing.trim()}`;
  return kept.length === 0 ? 'private' : `private, ${kept.join(', ')}`;
}
