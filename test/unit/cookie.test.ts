import { describe, expect, it } from 'vitest';
import type { CookieConfig } from '../../src/config/types.js';
import { decodeDate, encodeDate } from '../../src/balancer/cookie-date.js';
import { createPersistenceCookie, privateCacheControl, type CookieLookup, type PersistenceCookie } from '../../src/balancer/cookie.js';

const SERVERS = ['web1', 'web2', 'web3'];
/** 2023-11-14T22:13:20Z, a multiple of 4 s so HAProxy's 4-second dates are exact. */
const T0 = 1_700_000_000_000;
const MINUTE = 60_000;

function config(over: Partial<CookieConfig> = {}): CookieConfig {
  return {
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
    ...over,
  };
}

/** The VALUE of `NAME=VALUE; ...`. */
function valueOf(setCookie: string): string {
  return setCookie.slice(setCookie.indexOf('=') + 1, setCookie.indexOf(';'));
}

/** The cookie value a client would send back after `setCookie`. */
function issued(cookie: PersistenceCookie, serverIndex: number, nowMs: number, firstSeenSec?: number): string {
  return valueOf(cookie.setCookie(serverIndex, { secure: true, nowMs, firstSeenSec }));
}

function lookupValue(cookie: PersistenceCookie, value: string, nowMs: number): CookieLookup {
  return cookie.lookup(`WEBSERVERID=${value}`, nowMs);
}

const NONE: CookieLookup = { flag: 'N', serverIndex: -1, needsRefresh: false };
const INVALID: CookieLookup = { flag: 'I', serverIndex: -1, needsRefresh: false };
const EXPIRED: CookieLookup = { flag: 'E', serverIndex: -1, needsRefresh: false };
const valid = (serverIndex: number, needsRefresh = false): CookieLookup => ({ flag: 'V', serverIndex, needsRefresh });

describe('setCookie', () => {
  it.each([
    { name: 'httpOnly, not secure', over: {}, secure: false, expected: 'WEBSERVERID=web2; Path=/; HttpOnly' },
    { name: 'httpOnly, secure', over: {}, secure: true, expected: 'WEBSERVERID=web2; Path=/; HttpOnly; Secure' },
    { name: 'no httpOnly', over: { httpOnly: false }, secure: false, expected: 'WEBSERVERID=web2; Path=/' },
    {
      name: 'SameSite last',
      over: { sameSite: 'Lax' as const },
      secure: true,
      expected: 'WEBSERVERID=web2; Path=/; HttpOnly; Secure; SameSite=Lax',
    },
    { name: 'other name', over: { name: 'SRV', httpOnly: false }, secure: true, expected: 'SRV=web2; Path=/; Secure' },
    // HAProxy's own layout: SERVER|LAST (4-second units, base64 of 30 bits).
    { name: 'maxIdle: value|last', over: { maxIdleMs: 30 * MINUTE }, secure: false, expected: 'WEBSERVERID=web2|ZVPxA; Path=/; HttpOnly' },
    {
      name: 'maxLife: value|last|first',
      over: { maxLifeMs: 60 * MINUTE },
      secure: false,
      expected: 'WEBSERVERID=web2|ZVPxA|ZVPxA; Path=/; HttpOnly',
    },
  ])('$name', ({ over, secure, expected }) => {
    expect(createPersistenceCookie(config(over), SERVERS).setCookie(1, { secure, nowMs: T0 })).toBe(expected);
  });

  it('keeps the first-seen date it is given and rounds the last-seen date up to 4 s', () => {
    const cookie = createPersistenceCookie(config({ maxIdleMs: 30 * MINUTE, maxLifeMs: 60 * MINUTE }), SERVERS);
    expect(cookie.setCookie(0, { secure: false, nowMs: T0 + 3600_000, firstSeenSec: T0 / 1000 })).toBe(
      'WEBSERVERID=web1|ZVP/E|ZVPxA; Path=/; HttpOnly',
    );
    expect(cookie.setCookie(0, { secure: false, nowMs: T0 + 1000 })).toBe('WEBSERVERID=web1|ZVPxB|ZVPxB; Path=/; HttpOnly');
  });

  it('with a secret, writes an opaque 22-character token per server, stable for a secret', () => {
    const cookie = createPersistenceCookie(config({ secret: 's3cret' }), SERVERS);
    const values = SERVERS.map((_, i) => issued(cookie, i, T0));
    for (const [i, value] of values.entries()) {
      expect(value).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(value).not.toContain(SERVERS[i]);
    }
    expect(new Set(values).size).toBe(3);
    expect(cookie.setCookie(0, { secure: false, nowMs: T0 })).toBe(`WEBSERVERID=${values[0]}; Path=/; HttpOnly`);
    expect(issued(createPersistenceCookie(config({ secret: 's3cret' }), SERVERS), 0, T0 + 999_999)).toBe(values[0]);
    expect(issued(createPersistenceCookie(config({ secret: 'other' }), SERVERS), 0, T0)).not.toBe(values[0]);
  });

  it('with a secret and dates, writes TOKEN|LAST|FIRST|MAC', () => {
    const cookie = createPersistenceCookie(config({ secret: 's3cret', maxIdleMs: MINUTE, maxLifeMs: 60 * MINUTE }), SERVERS);
    expect(issued(cookie, 2, T0)).toMatch(/^[A-Za-z0-9_-]{22}\|ZVPxA\|ZVPxA\|[A-Za-z0-9_-]{16}$/);
    const idleOnly = createPersistenceCookie(config({ secret: 's3cret', maxIdleMs: MINUTE }), SERVERS);
    expect(issued(idleOnly, 2, T0)).toMatch(/^[A-Za-z0-9_-]{22}\|ZVPxA\|[A-Za-z0-9_-]{16}$/);
  });

  it('refuses an index outside the server list', () => {
    expect(() => createPersistenceCookie(config(), SERVERS).setCookie(3, { secure: false, nowMs: T0 })).toThrow(RangeError);
  });

  it.each([
    { name: 'a "|" in a plain value', cookies: ['web|1'] },
    { name: 'a ";" in a plain value', cookies: ['web;1'] },
    { name: 'an empty plain value', cookies: [''] },
    { name: 'a value used twice', cookies: ['web1', 'web1'] },
  ])('refuses $name', ({ cookies }) => {
    expect(() => createPersistenceCookie(config(), cookies)).toThrow(TypeError);
  });

  it('accepts any server value with a secret, since it is never sent', () => {
    expect(() => createPersistenceCookie(config({ secret: 'k' }), ['web|1', 'a b'])).not.toThrow();
    expect(() => createPersistenceCookie(config({ secret: 'k' }), ['same', 'same'])).toThrow(TypeError);
  });
});

describe('cookie dates', () => {
  it.each([
    { seconds: 0, text: 'AAAAA' },
    { seconds: 4, text: 'AAAAB' },
    { seconds: 1_700_000_000, text: 'ZVPxA' },
    { seconds: 1_700_003_600, text: 'ZVP/E' },
  ])('$seconds s <-> $text', ({ seconds, text }) => {
    expect(encodeDate(seconds)).toBe(text);
    expect(decodeDate(text)).toBe(seconds);
  });

  it.each(['', 'AAAA', 'AAAAAA', 'AAA-A', 'AAA_A', 'AA AA', 'AAAé'])('refuses %j', (text) => {
    expect(decodeDate(text)).toBeUndefined();
  });
});

describe('lookup without secret', () => {
  const cookie = createPersistenceCookie(config(), SERVERS);

  it.each<{ header: string | undefined; expected: CookieLookup }>([
    { header: undefined, expected: NONE },
    { header: '', expected: NONE },
    { header: 'a=b; c=d', expected: NONE },
    { header: 'WEBSERVERIDX=web1', expected: NONE },
    { header: 'XWEBSERVERID=web1', expected: NONE },
    { header: 'a=WEBSERVERID=web1', expected: NONE },
    { header: 'WEBSERVERID', expected: NONE }, // no "=": a nameless cookie (RFC 6265bis)
    { header: 'WEBSERVERID=web1', expected: valid(0) },
    { header: 'a=1; WEBSERVERID=web2; b=2', expected: valid(1) },
    { header: 'a=1;WEBSERVERID=web3', expected: valid(2) },
    { header: '  WEBSERVERID = web1 ;b=2', expected: valid(0) },
    { header: 'a=1;\tWEBSERVERID=web2\t', expected: valid(1) },
    { header: 'WEBSERVERIDX=web1; WEBSERVERID=web2', expected: valid(1) },
    { header: 'a=xWEBSERVERID=web1; WEBSERVERID=web3', expected: valid(2) },
    { header: 'WEBSERVERID=web3; WEBSERVERID=web1', expected: valid(2) }, // first occurrence
    { header: 'WEBSERVERID=nope; WEBSERVERID=web1', expected: INVALID }, // first occurrence
    { header: 'WEBSERVERID=', expected: INVALID },
    { header: 'WEBSERVERID=; a=b', expected: INVALID },
    { header: 'WEBSERVERID=web9', expected: INVALID },
    { header: 'WEBSERVERID=WEB1', expected: INVALID },
    { header: 'WEBSERVERID=web', expected: INVALID },
    { header: 'WEBSERVERID=web1x', expected: INVALID },
    { header: 'WEBSERVERID="web1"', expected: INVALID },
    { header: 'WEBSERVERID=\u0000\u00ff garbage', expected: INVALID },
    // A layout with dates from an older config: the server part still counts, re-set it.
    { header: 'WEBSERVERID=web2|ZVPxA', expected: valid(1, true) },
  ])('$header', ({ header, expected }) => {
    expect(cookie.lookup(header, T0)).toEqual(expected);
  });
});

describe('lookup with a secret', () => {
  const secret = 'correct horse battery staple';
  const cookie = createPersistenceCookie(config({ secret }), SERVERS);
  const token = SERVERS.map((_, i) => issued(cookie, i, T0));
  const rotated = SERVERS.map((_, i) => issued(createPersistenceCookie(config({ secret: 'old secret' }), SERVERS), i, T0));
  const flip = (text: string, at: number): string => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1);

  it.each<{ name: string; value: string; expected: CookieLookup }>([
    { name: 'own token', value: token[0]!, expected: valid(0) },
    { name: 'another server’s token', value: token[2]!, expected: valid(2) },
    { name: 'empty', value: '', expected: INVALID },
    { name: 'the plain server value', value: 'web1', expected: INVALID },
    { name: 'forged: last character changed', value: flip(token[1]!, 21), expected: INVALID },
    { name: 'forged: first character changed', value: flip(token[1]!, 0), expected: INVALID },
    { name: 'forged: prefix kept, rest changed', value: token[1]!.slice(0, 8) + 'A'.repeat(14), expected: INVALID },
    { name: 'truncated', value: token[1]!.slice(0, 21), expected: INVALID },
    { name: 'one character too many', value: `${token[1]!}A`, expected: INVALID },
    { name: 'another server’s token under a rotated secret', value: rotated[1]!, expected: INVALID },
    { name: 'own token under a rotated secret', value: rotated[0]!, expected: INVALID },
    { name: 'garbage of the right length', value: '!'.repeat(22), expected: INVALID },
    { name: 'non-ASCII', value: 'é'.repeat(22), expected: INVALID },
    // U+0141 is 0x41 'A' when truncated to a byte: must not pass for an 'A'.
    {
      name: 'a wide character standing for an ASCII one',
      value: token[1]!.slice(0, 21) + String.fromCharCode(0x100 + token[1]!.charCodeAt(21)),
      expected: INVALID,
    },
    { name: 'with dates from an older config', value: `${token[1]!}|ZVPxA|AAAAAAAAAAAAAAAA`, expected: valid(1, true) },
  ])('$name', ({ value, expected }) => {
    expect(lookupValue(cookie, value, T0)).toEqual(expected);
  });
});

describe('maxIdle without secret', () => {
  const cookie = createPersistenceCookie(config({ maxIdleMs: 30 * MINUTE }), SERVERS);
  const value = issued(cookie, 1, T0);

  it.each([
    { name: 'just issued', nowMs: T0, expected: valid(1) },
    { name: 'seen 59 s ago', nowMs: T0 + 59_000, expected: valid(1) },
    // The last-seen date is re-set once older than min(maxIdle / 4, 1 min).
    { name: 'seen 1 min ago: refresh', nowMs: T0 + MINUTE, expected: valid(1, true) },
    { name: 'idle exactly maxIdle', nowMs: T0 + 30 * MINUTE, expected: valid(1, true) },
    { name: 'idle 1 ms past maxIdle', nowMs: T0 + 30 * MINUTE + 1, expected: EXPIRED },
    { name: 'last seen 2 days in the future', nowMs: T0 - 2 * 24 * 60 * MINUTE, expected: EXPIRED },
  ])('$name', ({ nowMs, expected }) => {
    expect(lookupValue(cookie, value, nowMs)).toEqual(expected);
  });

  it('refreshes sooner when maxIdle is short', () => {
    const short = createPersistenceCookie(config({ maxIdleMs: 40_000 }), SERVERS);
    const v = issued(short, 0, T0);
    expect(lookupValue(short, v, T0 + 9_000)).toEqual(valid(0));
    expect(lookupValue(short, v, T0 + 10_000)).toEqual(valid(0, true));
    expect(lookupValue(short, v, T0 + 40_001)).toEqual(EXPIRED);
  });

  it.each([
    { name: 'undated (HAProxy accepts it, then dates it)', value: 'web2', expected: valid(1, true) },
    { name: 'a date too short', value: 'web2|ZVPx', expected: INVALID },
    { name: 'a date with a bad character', value: 'web2|ZVP-A', expected: INVALID },
    { name: 'an empty date', value: 'web2|', expected: INVALID },
    { name: 'three dates', value: 'web2|ZVPxA|ZVPxA|ZVPxA', expected: INVALID },
    { name: 'an unknown server', value: 'web9|ZVPxA', expected: INVALID },
    { name: 'a first date maxLife does not use: re-set', value: 'web2|ZVPxA|ZVPxA', expected: valid(1, true) },
  ])('$name', ({ value: v, expected }) => {
    expect(lookupValue(cookie, v, T0)).toEqual(expected);
  });
});

describe('maxLife', () => {
  it('expires a cookie maxLife after it was first issued, however often it is refreshed', () => {
    const cookie = createPersistenceCookie(config({ maxIdleMs: 30 * MINUTE, maxLifeMs: 60 * MINUTE }), SERVERS);
    let value = issued(cookie, 2, T0);
    for (const minutes of [20, 40, 55]) {
      const nowMs = T0 + minutes * MINUTE;
      const seen = lookupValue(cookie, value, nowMs);
      expect(seen).toEqual({ ...valid(2, true), firstSeenSec: T0 / 1000 });
      value = issued(cookie, 2, nowMs, seen.firstSeenSec);
    }
    expect(lookupValue(cookie, value, T0 + 60 * MINUTE)).toEqual({ ...valid(2, true), firstSeenSec: T0 / 1000 });
    expect(lookupValue(cookie, value, T0 + 60 * MINUTE + 1)).toEqual(EXPIRED);
  });

  it('needs no refresh without maxIdle, and accepts an undated cookie without secret', () => {
    const cookie = createPersistenceCookie(config({ maxLifeMs: 60 * MINUTE }), SERVERS);
    const value = issued(cookie, 0, T0);
    expect(lookupValue(cookie, value, T0 + 59 * MINUTE)).toEqual({ ...valid(0), firstSeenSec: T0 / 1000 });
    expect(lookupValue(cookie, value, T0 + 61 * MINUTE)).toEqual(EXPIRED);
    expect(lookupValue(cookie, 'web1', T0)).toEqual(valid(0, true));
    expect(lookupValue(cookie, 'web1|ZVPxA', T0)).toEqual(valid(0, true)); // no first date: re-set with one
    expect(lookupValue(cookie, `web1|ZVPxA|${encodeDate(T0 / 1000 + 2 * 86_400)}`, T0)).toEqual(EXPIRED); // born in the future
  });
});

describe('dates with a secret', () => {
  const secret = 's3cret';
  const cookie = createPersistenceCookie(config({ secret, maxIdleMs: 30 * MINUTE, maxLifeMs: 60 * MINUTE }), SERVERS);
  const value = issued(cookie, 1, T0);
  const [token, last, first, mac] = value.split('|') as [string, string, string, string];
  const later = encodeDate(T0 / 1000 + 50 * 60);

  it('reads back what it wrote, with the first-seen date', () => {
    expect(lookupValue(cookie, value, T0 + 10_000)).toEqual({ ...valid(1), firstSeenSec: T0 / 1000 });
    expect(lookupValue(cookie, value, T0 + 31 * MINUTE)).toEqual(EXPIRED);
  });

  it.each([
    { name: 'a forged later last-seen date', forged: [token, later, first, mac] },
    { name: 'a forged later first-seen date', forged: [token, last, later, mac] },
    { name: 'dates swapped', forged: [token, first, last, mac].map((p, i) => (i === 1 ? later : p)) },
    { name: 'the dates dropped', forged: [token] },
    { name: 'the first date dropped', forged: [token, last, mac] },
    { name: 'the MAC dropped', forged: [token, last, first] },
    { name: 'the MAC truncated', forged: [token, last, first, mac.slice(0, 15)] },
    { name: 'the MAC of another cookie', forged: [token, last, first, issued(cookie, 1, T0 + 8_000).split('|')[3]!] },
    { name: 'another server’s token with this MAC', forged: [issued(cookie, 0, T0).split('|')[0]!, last, first, mac] },
    { name: 'an empty MAC', forged: [token, last, first, ''] },
  ])('rejects $name', ({ forged }) => {
    expect(lookupValue(cookie, forged.join('|'), T0 + 10_000)).toEqual(INVALID);
  });

  it('rejects a cookie signed under a rotated secret', () => {
    const old = createPersistenceCookie(config({ secret: 'old', maxIdleMs: 30 * MINUTE, maxLifeMs: 60 * MINUTE }), SERVERS);
    expect(lookupValue(cookie, issued(old, 1, T0), T0)).toEqual(INVALID);
  });

  it('refuses a cookie without the first date when maxLife is set', () => {
    const idleOnly = createPersistenceCookie(config({ secret, maxIdleMs: 30 * MINUTE }), SERVERS);
    expect(lookupValue(cookie, issued(idleOnly, 1, T0), T0)).toEqual(INVALID);
    // ...while a first date no longer needed is accepted and the cookie re-set.
    expect(lookupValue(idleOnly, value, T0)).toEqual(valid(1, true));
  });
});

describe('strip', () => {
  const cookie = createPersistenceCookie(config(), SERVERS);

  it.each<{ name: string; header: string; expected: string | undefined }>([
    { name: 'first', header: 'WEBSERVERID=web1; a=1; b=2', expected: 'a=1; b=2' },
    { name: 'middle', header: 'a=1; WEBSERVERID=web1; b=2', expected: 'a=1; b=2' },
    { name: 'last', header: 'a=1; b=2; WEBSERVERID=web1', expected: 'a=1; b=2' },
    { name: 'only', header: 'WEBSERVERID=web1', expected: undefined },
    { name: 'only, with an empty value', header: ' WEBSERVERID= ', expected: undefined },
    { name: 'duplicates', header: 'WEBSERVERID=web1; a=1; WEBSERVERID=web2; b=2; WEBSERVERID=x', expected: 'a=1; b=2' },
    { name: 'only duplicates', header: 'WEBSERVERID=web1;WEBSERVERID=web2', expected: undefined },
    { name: 'prefix-named kept', header: 'WEBSERVERIDX=1; WEBSERVERID=web1; XWEBSERVERID=2', expected: 'WEBSERVERIDX=1; XWEBSERVERID=2' },
    { name: 'no spaces', header: 'a=1;WEBSERVERID=web1;b=2', expected: 'a=1; b=2' },
    { name: 'extra spaces and tabs', header: '  a=1 ;\tWEBSERVERID = web1 ;  b=2  ', expected: 'a=1; b=2' },
    { name: 'other values kept byte for byte', header: 'q="a b"; WEBSERVERID=web1; t=x=y=; e=', expected: 'q="a b"; t=x=y=; e=' },
    { name: 'empty pairs dropped when rewriting', header: 'a=1;; WEBSERVERID=web1;', expected: 'a=1' },
    { name: 'our name inside another value kept', header: 'a=WEBSERVERID=web1; WEBSERVERID=web2', expected: 'a=WEBSERVERID=web1' },
  ])('$name', ({ header, expected }) => {
    expect(cookie.strip(header)).toBe(expected);
  });

  it.each(['a=1; b=2', 'WEBSERVERIDX=1;  b=2', 'a=WEBSERVERID', '', 'a=1;;b=2 '])(
    'returns %j unchanged when our cookie is absent',
    (header) => {
      expect(cookie.strip(header)).toBe(header);
    },
  );
});

describe('privateCacheControl', () => {
  it.each<{ existing: string | undefined; expected: string | undefined }>([
    { existing: undefined, expected: 'private' },
    { existing: '', expected: 'private' },
    { existing: 'max-age=60', expected: 'private, max-age=60' },
    { existing: 'no-cache', expected: 'private, no-cache' },
    { existing: 'max-age=60, must-revalidate', expected: 'private, max-age=60, must-revalidate' },
    { existing: 'no-store', expected: undefined },
    { existing: 'Private', expected: undefined },
    { existing: 'max-age=0, private', expected: undefined },
    { existing: 'private="Set-Cookie"', expected: undefined },
    { existing: 'NO-STORE, max-age=0', expected: undefined },
    { existing: 'no-storage', expected: 'private, no-storage' },
    // public contradicts private: dropped.
    { existing: 'public, max-age=60', expected: 'private, max-age=60' },
    { existing: 'Public', expected: 'private' },
  ])('$existing -> $expected', ({ existing, expected }) => {
    expect(privateCacheControl(existing)).toBe(expected);
  });
});
