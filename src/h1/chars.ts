// Byte classes of RFC 9110/9112 as one 256-entry table, so the scanners test a byte
// with one load and a mask instead of comparisons or regexes.

/** tchar: a byte of a token (method, field name, transfer coding). */
export const C_TOKEN = 1;
/** field-vchar: VCHAR or obs-text (0x21-0x7e, 0x80-0xff); SP and HTAB are handled apart. */
export const C_VCHAR = 2;
/** A byte of a request-target: visible ASCII except '#' (a fragment is never sent). */
export const C_TARGET = 4;
/** A byte of a Host value or an authority: unreserved, pct-encoded, sub-delims, ':' and '[' ']'. */
export const C_HOST = 8;
/** ALPHA: a byte of the scheme of an absolute-form target. */
export const C_ALPHA = 16;
/** qdtext of a quoted string (chunk extension values): HTAB, SP, VCHAR except '"' and '\', obs-text. */
export const C_QDTEXT = 32;
/** DIGIT. */
export const C_DIGIT = 64;

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;
export const COLON = 58;
export const COMMA = 44;
export const SEMICOLON = 59;

function build(): Uint8Array {
  const table = new Uint8Array(256);
  const add = (chars: string, bit: number): void => {
    for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)]! |= bit;
  };
  const alpha = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
  const digit = '0123456789';
  add(alpha + digit + "!#$%&'*+-.^_`|~", C_TOKEN);
  add(alpha, C_ALPHA);
  add(digit, C_DIGIT);
  add(alpha + digit + "-._~%!$&'()*+,;=:[]", C_HOST);
  for (let c = 0x21; c <= 0x7e; c++) {
    table[c]! |= C_VCHAR;
    if (c !== 0x23) table[c]! |= C_TARGET;
    if (c !== 0x22 && c !== 0x5c) table[c]! |= C_QDTEXT;
  }
  for (let c = 0x80; c <= 0xff; c++) table[c]! |= C_VCHAR | C_QDTEXT;
  table[HTAB]! |= C_QDTEXT;
  table[SP]! |= C_QDTEXT;
  return table;
}

/** The class bits of each byte. */
export const CHAR: Uint8Array = build();

/** Each byte lower-cased when it is an ASCII capital letter, unchanged otherwise. */
export const LOWER: Uint8Array = (() => {
  const table = new Uint8Array(256);
  for (let c = 0; c < 256; c++) table[c] = c >= 65 && c <= 90 ? c | 0x20 : c;
  return table;
})();

/** The value of a hex digit, or -1. */
export const HEX: Int8Array = (() => {
  const table = new Int8Array(256).fill(-1);
  for (let c = 0; c < 10; c++) table[48 + c] = c;
  for (let c = 0; c < 6; c++) {
    table[65 + c] = 10 + c;
    table[97 + c] = 10 + c;
  }
  return table;
})();

/** The bytes of a lower-case ASCII name, to compare field names without making strings. */
export function asciiBytes(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** True when buf[start, start + lower.length) equals `lower` ignoring ASCII case. */
export function equalsLower(buf: Uint8Array, start: number, lower: Uint8Array): boolean {
  for (let i = 0; i < lower.length; i++) if (LOWER[buf[start + i]!] !== lower[i]) return false;
  return true;
}
