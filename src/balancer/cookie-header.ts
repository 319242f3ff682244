// Reading and removing one cookie in a request's Cookie header (RFC 6265 `a=b; c=d`,
// spaces and tabs tolerated around `;` and `=`). Both start with one indexOf so a
// header without the name costs a single scan and no allocation.

const SEMICOLON = 0x3b;
const EQUALS = 0x3d;

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** The value of the first cookie called `name` (trimmed, possibly ''), or undefined when there is none. */
export function findCookie(header: string, name: string): string | undefined {
  const length = header.length;
  let from = 0;
  for (;;) {
    const at = header.indexOf(name, from);
    if (at < 0) return undefined;
    from = at + 1;
    if (!startsPair(header, at)) continue; // inside another cookie's name or value
    let i = at + name.length;
    while (i < length && isSpace(header.charCodeAt(i))) i++;
    if (header.charCodeAt(i) !== EQUALS) continue; // a longer name, or no `=`
    i++;
    while (i < length && isSpace(header.charCodeAt(i))) i++;
    let end = header.indexOf(';', i);
    if (end < 0) end = length;
    while (end > i && isSpace(header.charCodeAt(end - 1))) end--;
    return header.slice(i, end);
  }
}

/** True when only spaces separate `at` from the header's start or the previous `;`. */
function startsPair(header: string, at: number): boolean {
  let i = at - 1;
  while (i >= 0 && isSpace(header.charCodeAt(i))) i--;
  return i < 0 || header.charCodeAt(i) === SEMICOLON;
}

/**
 * The header without any cookie called `name`: the others keep their bytes and order,
 * joined with `; `. The same string when there was none; undefined when none is left.
 */
export function stripCookie(header: string, name: string): string | undefined {
  if (!header.includes(name)) return header;
  const kept: string[] = [];
  let removed = false;
  for (const part of header.split(';')) {
    const pair = trimSpaces(part);
    if (pair === '') continue;
    if (cookieName(pair) === name) removed = true;
    else kept.push(pair);
  }
  if (!removed) return header;
  return kept.length === 0 ? undefined : kept.join('; ');
}

/** The name of a trimmed `name=value` pair; '' for a pair without `=` (RFC 6265bis: a nameless cookie). */
function cookieName(pair: string): string {
  const equals = pair.indexOf('=');
  return equals < 0 ? '' : trimSpaces(pair.slice(0, equals));
}

function trimSpaces(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}
