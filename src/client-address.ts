// Client addresses: the two ends of a client connection as Doorman reports them (the
// socket's, or what a trusted PROXY header carried), their one spelling (IPv4-mapped
// IPv6 as IPv4, IPv6 in RFC 5952 form), CIDR lists, and the key per-client limits count by.
import { BlockList, isIP, type Socket } from 'node:net';

/**
 * Both ends of a client connection, decided once at accept: the socket's peer and local
 * address, or the source and destination a trusted PROXY header carried. Everything
 * downstream (limits, X-Forwarded-For, access logs, `source` balancing, PROXY headers
 * sent to servers) reads these, never the socket.
 */
export interface ConnectionAddresses {
  /** The client's address in its one spelling (see plainAddress); '' when unknown. */
  readonly clientAddress: string;
  readonly clientPort: number;
  /** The address the client connected to. */
  readonly localAddress: string;
  readonly localPort: number;
}

/** The socket's own ends. */
export function socketAddresses(socket: Socket): ConnectionAddresses {
  return {
    clientAddress: plainAddress(socket.remoteAddress),
    clientPort: socket.remotePort ?? 0,
    localAddress: plainAddress(socket.localAddress),
    localPort: socket.localPort ?? 0,
  };
}

/** Normalises an IPv4-mapped IPv6 address (::ffff:1.2.3.4) to plain IPv4, as Node reports mapped peers. */
export function plainAddress(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** A BlockList of CIDRs ("10.0.0.0/8", "::1", "192.0.2.7"), or null for none. */
export function cidrList(cidrs: readonly string[]): BlockList | null {
  if (cidrs.length === 0) return null;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [address, prefix] = cidr.split('/') as [string, string | undefined];
    const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    list.addSubnet(address, prefix === undefined ? (type === 'ipv6' ? 128 : 32) : Number(prefix), type);
  }
  return list;
}

/** True when `address` is inside `list` (IPv4 or IPv6). */
export function inBlockList(list: BlockList | null, address: string): boolean {
  if (!list || !address) return false;
  return list.check(address, address.includes(':') ? 'ipv6' : 'ipv4');
}

/**
 * The eight 16-bit groups of an IPv6 address in text (`::` and a trailing dotted quad
 * allowed), or null when it is not one. Zone ids (`%eth0`) are refused: they mean
 * nothing beyond this host.
 */
export function ipv6Groups(text: string): number[] | null {
  if (text.includes('%') || isIP(text) !== 6) return null;
  return groupsOf(text);
}

/** ipv6Groups of a text already known to be an IPv6 address. */
function groupsOf(text: string): number[] | null {
  let body = text;
  const tail: number[] = [];
  const lastColon = body.lastIndexOf(':');
  if (body.indexOf('.', lastColon) >= 0) {
    const quad = body
      .slice(lastColon + 1)
      .split('.')
      .map(Number);
    tail.push((quad[0]! << 8) | quad[1]!, (quad[2]! << 8) | quad[3]!);
    // Keep the colon of a `::` that precedes the quad (`::1.2.3.4`, `::ffff:1.2.3.4`).
    body = body.endsWith(`::${body.slice(lastColon + 1)}`) ? body.slice(0, lastColon + 1) : body.slice(0, lastColon);
  }
  const hex = (part: string) => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const gap = body.indexOf('::');
  const head = hex(gap < 0 ? body : body.slice(0, gap));
  const rest = gap < 0 ? [] : hex(body.slice(gap + 2));
  const zeros = 8 - head.length - rest.length - tail.length;
  const groups = [...head, ...new Array<number>(gap < 0 ? 0 : zeros).fill(0), ...rest, ...tail];
  return groups.length === 8 ? groups : null;
}

/** The IPv4 address an IPv4-mapped group list (::ffff:a.b.c.d) stands for, else null. */
function mappedIPv4(groups: readonly number[]): string | null {
  if (groups[5] !== 0xffff || groups.slice(0, 5).some((g) => g !== 0)) return null;
  const [hi, lo] = [groups[6]!, groups[7]!];
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** RFC 5952 text of eight groups: lower-case, the longest run (of two or more) of zero groups as `::`. */
export function formatIPv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  const text = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart < 0) return text(0, 8);
  return `${text(0, bestStart)}::${text(bestStart + bestLength, 8)}`;
}

/**
 * The one spelling of an address read off the wire (a PROXY header): IPv4 as is,
 * IPv4-mapped IPv6 as IPv4, other IPv6 in RFC 5952 form; null when it is not an address.
 */
export function canonicalAddress(text: string): string | null {
  const family = isIP(text);
  if (family === 4) return text;
  if (family !== 6) return null;
  const groups = ipv6Groups(text);
  return groups === null ? null : addressOfGroups(groups);
}

/** The one spelling of an IPv6 address given as eight groups (IPv4-mapped ones as IPv4). */
export function addressOfGroups(groups: readonly number[]): string {
  return mappedIPv4(groups) ?? formatIPv6(groups);
}

/**
 * What per-client limits count by: an IPv4 address itself, an IPv6 address's /64 (one
 * subscriber or host usually owns a whole /64, and rotates addresses inside it).
 * `address` is already a valid address in its one spelling (plainAddress or canonicalAddress).
 */
export function clientKey(address: string): string {
  if (!address.includes(':')) return address;
  const groups = groupsOf(address);
  if (groups === null) return address;
  return `${formatIPv6([...groups.slice(0, 4), 0, 0, 0, 0])}/64`;
}
