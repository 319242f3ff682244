// The PROXY protocol header (HAProxy's proxy-protocol.txt), versions 1 and 2, read from
// the first bytes of a connection: a resumable pure parser. It is handed everything
// received so far and answers partial (send more), complete (with the header's length:
// the bytes after it are the client's) or an error code; it never reads past the length
// a header declares, never throws, and needs at most MAX_HEADER_BYTES to decide.
import { addressOfGroups, canonicalAddress, type ConnectionAddresses } from '../client-address.js';

/** Version 1 is one text line of at most 107 bytes, CRLF included. */
export const V1_MAX_BYTES = 107;
/**
 * Version 2 declares its length (up to 64 KiB); Doorman takes headers up to this size,
 * addresses and a few TLVs (AWS and GCP add a VPC or PSC id), and refuses larger ones.
 */
export const V2_MAX_BYTES = 1024;
/** What the parser may need before it decides. */
export const MAX_HEADER_BYTES = Math.max(V1_MAX_BYTES, V2_MAX_BYTES);

export const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Signature, version/command, family/transport, 16-bit length. */
export const V2_FIXED_BYTES = 16;

/** Why a header was refused. */
export type ProxyHeaderErrorCode =
  /** The first bytes are neither signature. */
  | 'no-signature'
  /** A version 1 line: no CRLF within 107 bytes, a byte that is not printable ASCII, or fields that do not parse. */
  | 'bad-v1-line'
  | 'bad-address'
  | 'bad-port'
  /** Version 2: a version other than 2, a command other than LOCAL or PROXY, an undefined family or transport. */
  | 'bad-v2-header'
  /** Version 2: a declared length above V2_MAX_BYTES, or too short for its address family. */
  | 'bad-v2-length';

/** A header read whole: `addresses` null means "use the connection's own" (LOCAL, UNKNOWN, an unsupported family). */
export interface ProxyHeader {
  readonly version: 1 | 2;
  readonly addresses: ConnectionAddresses | null;
}

export type ProxyParseResult =
  | { readonly kind: 'partial' }
  | { readonly kind: 'complete'; readonly header: ProxyHeader; readonly length: number }
  | { readonly kind: 'error'; readonly code: ProxyHeaderErrorCode };

const PARTIAL: ProxyParseResult = { kind: 'partial' };

function error(code: ProxyHeaderErrorCode): ProxyParseResult {
  return { kind: 'error', code };
}

/** True while `buf` agrees with `signature` as far as both go. */
function agrees(buf: Buffer, signature: Buffer): boolean {
  const n = Math.min(buf.length, signature.length);
  for (let i = 0; i < n; i++) if (buf[i] !== signature[i]) return false;
  return true;
}

/** Parses the header at the start of `buf` (everything received so far). */
export function parseProxyHeader(buf: Buffer): ProxyParseResult {
  if (buf.length === 0) return PARTIAL;
  if (buf[0] === V1_SIGNATURE[0]) return agrees(buf, V1_SIGNATURE) ? parseV1(buf) : error('no-signature');
  if (buf[0] === V2_SIGNATURE[0]) return agrees(buf, V2_SIGNATURE) ? parseV2(buf) : error('no-signature');
  return error('no-signature');
}

// ---- version 1: "PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n" ------------------

function parseV1(buf: Buffer): ProxyParseResult {
  const end = Math.min(buf.length, V1_MAX_BYTES);
  let cr = -1;
  for (let i = V1_SIGNATURE.length; i < end; i++) {
    const byte = buf[i]!;
    if (byte === 0x0d) {
      cr = i;
      break;
    }
    if (byte < 0x20 || byte > 0x7e) return error('bad-v1-line');
  }
  if (cr < 0) return buf.length >= V1_MAX_BYTES ? error('bad-v1-line') : PARTIAL;
  if (cr + 1 >= buf.length) return cr + 1 >= V1_MAX_BYTES ? error('bad-v1-line') : PARTIAL;
  if (buf[cr + 1] !== 0x0a) return error('bad-v1-line');
  const length = cr + 2;
  const fields = buf.toString('latin1', V1_SIGNATURE.length, cr).split(' ');
  // UNKNOWN: whatever follows is ignored, the connection's own addresses count.
  if (fields[0] === 'UNKNOWN') return { kind: 'complete', header: { version: 1, addresses: null }, length };
  if (fields.length !== 5 || (fields[0] !== 'TCP4' && fields[0] !== 'TCP6')) return error('bad-v1-line');
  const family = fields[0] === 'TCP4' ? 4 : 6;
  const source = v1Address(fields[1]!, family);
  const destination = v1Address(fields[2]!, family);
  if (source === null || destination === null) return error('bad-address');
  const sourcePort = v1Port(fields[3]!);
  const destinationPort = v1Port(fields[4]!);
  if (sourcePort < 0 || destinationPort < 0) return error('bad-port');
  return {
    kind: 'complete',
    header: {
      version: 1,
      addresses: { clientAddress: source, clientPort: sourcePort, localAddress: destination, localPort: destinationPort },
    },
    length,
  };
}

function v1Address(text: string, family: 4 | 6): string | null {
  if (family === 4 ? text.includes(':') : !text.includes(':')) return null;
  return canonicalAddress(text);
}

/** A decimal port 0..65535 without leading zeros, else -1. */
function v1Port(text: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return -1;
  const port = Number(text);
  return port <= 65_535 ? port : -1;
}

// ---- version 2: signature, ver/cmd, fam/transport, length, addresses, TLVs ----------

const CMD_LOCAL = 0x0;
const CMD_PROXY = 0x1;
const AF_UNSPEC = 0x0;
const AF_INET = 0x1;
const AF_INET6 = 0x2;
const AF_UNIX = 0x3;
const STREAM = 0x1;
const DGRAM = 0x2;
/** The address block's size per family: two addresses and two ports. */
const ADDRESS_BYTES: Readonly<Record<number, number>> = { [AF_UNSPEC]: 0, [AF_INET]: 12, [AF_INET6]: 36, [AF_UNIX]: 216 };

function parseV2(buf: Buffer): ProxyParseResult {
  if (buf.length < V2_FIXED_BYTES) {
    // Refuse a bad version or family as soon as its byte is in.
    if (buf.length > 12 && !validVersionCommand(buf[12]!)) return error('bad-v2-header');
    if (buf.length > 13 && !validFamily(buf[13]!)) return error('bad-v2-header');
    return PARTIAL;
  }
  const versionCommand = buf[12]!;
  const familyTransport = buf[13]!;
  if (!validVersionCommand(versionCommand) || !validFamily(familyTransport)) return error('bad-v2-header');
  const declared = buf.readUInt16BE(14);
  const length = V2_FIXED_BYTES + declared;
  if (length > V2_MAX_BYTES) return error('bad-v2-length');
  const family = familyTransport >> 4;
  const transport = familyTransport & 0x0f;
  // Checked before the whole header is in: a short address block is refused at once.
  if ((versionCommand & 0x0f) === CMD_PROXY && declared < ADDRESS_BYTES[family]!) return error('bad-v2-length');
  if (buf.length < length) return PARTIAL;
  // LOCAL (the sender's own health checks), and families or transports Doorman does not
  // carry (UNSPEC, UNIX, datagrams): the connection's own addresses count, as the spec says.
  if ((versionCommand & 0x0f) === CMD_LOCAL || transport !== STREAM || (family !== AF_INET && family !== AF_INET6)) {
    return { kind: 'complete', header: { version: 2, addresses: null }, length };
  }
  const at = V2_FIXED_BYTES;
  const addresses =
    family === AF_INET
      ? {
          clientAddress: ipv4At(buf, at),
          localAddress: ipv4At(buf, at + 4),
          clientPort: buf.readUInt16BE(at + 8),
          localPort: buf.readUInt16BE(at + 10),
        }
      : {
          clientAddress: ipv6At(buf, at),
          localAddress: ipv6At(buf, at + 16),
          clientPort: buf.readUInt16BE(at + 32),
          localPort: buf.readUInt16BE(at + 34),
        };
  // TLVs (after the addresses, up to `length`) are skipped: Doorman uses none of them.
  return { kind: 'complete', header: { version: 2, addresses }, length };
}

function validVersionCommand(byte: number): boolean {
  const command = byte & 0x0f;
  return byte >> 4 === 2 && (command === CMD_LOCAL || command === CMD_PROXY);
}

function validFamily(byte: number): boolean {
  return byte >> 4 <= AF_UNIX && (byte & 0x0f) <= DGRAM;
}

function ipv4At(buf: Buffer, at: number): string {
  return `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`;
}

/** An IPv6 address in its one spelling (an IPv4-mapped one as IPv4). */
function ipv6At(buf: Buffer, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(at + 2 * i));
  return addressOfGroups(groups);
}
