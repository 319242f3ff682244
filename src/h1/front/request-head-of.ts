// The exchange's view of a parsed HTTP/1.1 request head: the few strings decisions read,
// the raw pairs the header pass rewrites (built once), and the connection's addresses. The
// parser's offsets are read here, once per request; nothing else is materialised.
import { LbError } from '../../errors.js';
import type { ConnectionAddresses } from '../../client-address.js';
import type { RequestHead as ExchangeHead } from '../../exchange/request-head.js';
import { MF_UPGRADE, MF_VER_11 } from '../head.js';
import type { RequestHead as ParsedHead } from '../request-head.js';

/** The origin form of an absolute-form target (`http://h:1/p?q` → `/p?q`); the parser checked its shape. */
export function originFormOf(target: string): string {
  const authority = target.indexOf('//') + 2;
  let pathStart = authority;
  while (pathStart < target.length && target.charCodeAt(pathStart) !== 47 /* / */ && target.charCodeAt(pathStart) !== 63 /* ? */)
    pathStart++;
  if (pathStart === target.length) return '/';
  return target.charCodeAt(pathStart) === 63 ? `/${target.slice(pathStart)}` : target.slice(pathStart);
}

/** The protocol an upgrade request asks Doorman to tunnel: only `websocket` on a GET; any other Upgrade is ignored (RFC 9110 §7.8). */
export function tunnelledUpgrade(head: ParsedHead): 'websocket' | null {
  if ((head.flags & MF_UPGRADE) === 0 || head.method !== 'GET') return null;
  const value = head.upgrade;
  return value !== undefined && value.trim().toLowerCase() === 'websocket' ? 'websocket' : null;
}

/** The head the exchange reads; `hasBody` comes from bodyKind. */
export function exchangeHeadOf(
  head: ParsedHead,
  hasBody: boolean,
  upgrade: 'websocket' | null,
  addresses: ConnectionAddresses,
): ExchangeHead {
  const count = head.fieldCount;
  const headers = new Array<string>(2 * count);
  let connection: string | undefined;
  for (let i = 0; i < count; i++) {
    const name = head.nameAt(i);
    const value = head.valueAt(i);
    headers[2 * i] = name;
    headers[2 * i + 1] = value;
    if (name.length === 10 && name.toLowerCase() === 'connection')
      connection = connection === undefined ? value : `${connection}, ${value}`;
  }
  return {
    method: head.method,
    target: head.targetForm === 'absolute' ? originFormOf(head.target) : head.target,
    httpVersion: (head.flags & MF_VER_11) !== 0 ? '1.1' : '1.0',
    headers,
    host: head.host,
    cookie: head.cookie,
    connection,
    hasBody,
    upgrade,
    clientAddress: addresses.clientAddress,
    clientPort: addresses.clientPort,
    localAddress: addresses.localAddress,
    localPort: addresses.localPort,
  };
}

/** Why a well-formed head is still not forwarded: upstream requests carry origin-form only. */
export function refusalOf(head: ParsedHead): LbError | null {
  if (head.targetForm === 'origin' || head.targetForm === 'absolute') return null;
  return new LbError('LB_ERR_BAD_REQUEST', 'request target must be a path');
}
