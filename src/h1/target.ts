// The request-target forms of RFC 9112 §3.2 and the host[:port] of Host and of an
// authority. The bytes were already checked to be visible ASCII without '#'; this file
// decides the shape, stricter than a URL parser: no userinfo, a port of 1-5 digits.
import { C_ALPHA, C_DIGIT, C_HOST, CHAR, COLON } from './chars.js';

/** origin-form `/p?q`, absolute-form `http://h/p`, authority-form `h:443` (CONNECT), asterisk-form `*` (OPTIONS). */
export type TargetForm = 'origin' | 'absolute' | 'authority' | 'asterisk';

const SLASH = 47;
const QUESTION = 63;
const STAR = 42;
const OPEN_BRACKET = 91;
const CLOSE_BRACKET = 93;

/** The form of buf[start, end) for this method, or null when it has none of the forms the method allows. */
export function targetForm(buf: Buffer, start: number, end: number, isConnect: boolean, isOptions: boolean): TargetForm | null {
  if (isConnect) return hostPortEnd(buf, start, end, true) === end ? 'authority' : null;
  const first = buf[start]!;
  if (first === SLASH) return 'origin';
  if (first === STAR) return end - start === 1 && isOptions ? 'asterisk' : null;
  // absolute-form: scheme "://" authority [ path-abempty [ "?" query ] ]; scheme letters only, as llhttp.
  let pos = start;
  while (pos < end && (CHAR[buf[pos]!]! & C_ALPHA) !== 0) pos++;
  if (pos === start || end - pos < 3 || buf[pos] !== COLON || buf[pos + 1] !== SLASH || buf[pos + 2] !== SLASH) return null;
  const authorityEnd = hostPortEnd(buf, pos + 3, end, false);
  if (authorityEnd < 0) return null;
  return authorityEnd === end || buf[authorityEnd] === SLASH || buf[authorityEnd] === QUESTION ? 'absolute' : null;
}

/** True when buf[start, end) is a Host value: empty, or host [":" port]. */
export function isHostValue(buf: Buffer, start: number, end: number): boolean {
  return start === end || hostPortEnd(buf, start, end, false) === end;
}

/**
 * Reads host [":" port] from `start`: an IP-literal in brackets or a non-empty reg-name,
 * then a port of 1-5 digits, optional unless `portRequired`. Returns the offset where it stops (the first byte
 * that is neither), or -1 when malformed.
 */
function hostPortEnd(buf: Buffer, start: number, end: number, portRequired: boolean): number {
  let pos = start;
  if (pos < end && buf[pos] === OPEN_BRACKET) {
    pos++;
    while (pos < end && buf[pos] !== CLOSE_BRACKET && buf[pos] !== OPEN_BRACKET && (CHAR[buf[pos]!]! & C_HOST) !== 0) pos++;
    if (pos >= end || buf[pos] !== CLOSE_BRACKET || pos === start + 1) return -1;
    pos++;
  } else {
    while (pos < end && isRegNameByte(buf[pos]!)) pos++;
    if (pos === start) return -1;
  }
  if (pos < end && buf[pos] === COLON) {
    const portStart = ++pos;
    while (pos < end && (CHAR[buf[pos]!]! & C_DIGIT) !== 0) pos++;
    if (pos === portStart || pos - portStart > 5) return -1;
  } else if (portRequired) {
    return -1;
  }
  // A host byte left over (a second ':' or a bracket) makes it malformed rather than a stop.
  return pos < end && (CHAR[buf[pos]!]! & C_HOST) !== 0 ? -1 : pos;
}

function isRegNameByte(c: number): boolean {
  return (CHAR[c]! & C_HOST) !== 0 && c !== COLON && c !== OPEN_BRACKET && c !== CLOSE_BRACKET;
}
