// HAProxy's date field for `maxidle`/`maxlife` cookies: seconds / 4 (rounded up) as a
// 30-bit number written in 5 base64 characters, most significant first (HAProxy's
// s30tob64/b64tos30). Reusing it keeps cookies issued by HAProxy readable after the switch.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Characters in an encoded date. */
export const DATE_LENGTH = 5;

/** Encodes a date in seconds (rounded up to the 4-second unit, like HAProxy). */
export function encodeDate(seconds: number): string {
  let units = Math.ceil(seconds / 4) % 0x40000000;
  let out = '';
  for (let shift = 4; shift >= 0; shift--) {
    const digit = Math.floor(units / 64 ** shift);
    out += ALPHABET.charAt(digit);
    units -= digit * 64 ** shift;
  }
  return out;
}

/** Decodes a date written by encodeDate into seconds, or undefined when malformed. */
export function decodeDate(text: string): number | undefined {
  if (text.length !== DATE_LENGTH) return undefined;
  let units = 0;
  for (let i = 0; i < DATE_LENGTH; i++) {
    const code = text.charCodeAt(i);
    const digit = code < 128 ? DECODE[code]! : -1;
    if (digit < 0) return undefined;
    units = units * 64 + digit;
  }
  return units * 4;
}
