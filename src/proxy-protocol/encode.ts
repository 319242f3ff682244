// The PROXY protocol header Doorman sends first on a new connection to a server that asks
// for one (`servers[].proxyProtocol`), like HAProxy's send-proxy / send-proxy-v2.
import { isIP } from 'node:net';
import { ipv6Groups, type ConnectionAddresses } from '../client-address.js';
import type { ProxyProtocolVersion } from '../config/types.js';
import { V2_FIXED_BYTES, V2_SIGNATURE } from './parse.js';

/**
 * The header announcing `addresses` (the client's connection: source, and destination
 * the address it reached Doorman on). Null, or an address that is not known, announces
 * nothing: `PROXY UNKNOWN` in v1, the LOCAL command in v2 (health checks: the connection
 * is Doorman's own). Mixed families are sent as IPv6 (an IPv4 address mapped).
 */
export function encodeProxyHeader(version: ProxyProtocolVersion, addresses: ConnectionAddresses | null): Buffer {
  const known = addresses !== null && isIP(addresses.clientAddress) !== 0 && isIP(addresses.localAddress) !== 0 ? addresses : null;
  switch (version) {
    case 'v1':
      return encodeV1(known);
    case 'v2':
      return encodeV2(known);
  }
}

/** Both addresses as one family: IPv4 when both are, else IPv6 (an IPv4 one as ::ffff:a.b.c.d). */
function sameFamily(addresses: ConnectionAddresses): { family: 4 | 6; source: string; destination: string } {
  // A zone id (fe80::1%eth0) means nothing to the server.
  const clientAddress = addresses.clientAddress.split('%')[0]!;
  const localAddress = addresses.localAddress.split('%')[0]!;
  if (isIP(clientAddress) === 4 && isIP(localAddress) === 4) return { family: 4, source: clientAddress, destination: localAddress };
  const six = (address: string) => (isIP(address) === 4 ? `::ffff:${address}` : address);
  return { family: 6, source: six(clientAddress), destination: six(localAddress) };
}

function encodeV1(addresses: ConnectionAddresses | null): Buffer {
  if (addresses === null) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const { family, source, destination } = sameFamily(addresses);
  return Buffer.from(`PROXY TCP${family} ${source} ${destination} ${addresses.clientPort} ${addresses.localPort}\r\n`, 'latin1');
}

const LOCAL = 0x20;
const PROXY = 0x21;
const INET_STREAM = 0x11;
const INET6_STREAM = 0x21;

function encodeV2(addresses: ConnectionAddresses | null): Buffer {
  if (addresses === null) {
    const header = Buffer.alloc(V2_FIXED_BYTES);
    V2_SIGNATURE.copy(header);
    header[12] = LOCAL;
    return header; // family UNSPEC, length 0
  }
  const { family, source, destination } = sameFamily(addresses);
  const addressBytes = family === 4 ? 12 : 36;
  const header = Buffer.alloc(V2_FIXED_BYTES + addressBytes);
  V2_SIGNATURE.copy(header);
  header[12] = PROXY;
  header[13] = family === 4 ? INET_STREAM : INET6_STREAM;
  header.writeUInt16BE(addressBytes, 14);
  let at = V2_FIXED_BYTES;
  for (const address of [source, destination]) at = family === 4 ? writeIPv4(header, at, address) : writeIPv6(header, at, address);
  header.writeUInt16BE(addresses.clientPort, at);
  header.writeUInt16BE(addresses.localPort, at + 2);
  return header;
}

function writeIPv4(buf: Buffer, at: number, address: string): number {
  for (const [i, part] of address.split('.').entries()) buf[at + i] = Number(part);
  return at + 4;
}

function writeIPv6(buf: Buffer, at: number, address: string): number {
  const groups = ipv6Groups(address) ?? new Array<number>(8).fill(0);
  for (const [i, group] of groups.entries()) buf.writeUInt16BE(group, at + 2 * i);
  return at + 16;
}
