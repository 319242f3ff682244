// What an admitted client connection goes through before TLS or HTTP sees a byte
// (docs/lifecycle.md): the PROXY header, required from the frontend's trusted peers and
// never read from anyone else; then the client's limits (allow/deny, concurrent
// connections). It ends with the connection's addresses, decided once, or a closed socket.
import type { BlockList, Socket } from 'node:net';
import { cidrList, inBlockList, socketAddresses, type ConnectionAddresses } from '../client-address.js';
import type { FrontendConfig } from '../config/types.js';
import type { ClientLimits } from '../limits/client-limits.js';
import { readProxyHeader, type ProxyReadErrorCode } from '../proxy-protocol/read-header.js';

/** What a frontend's accept step needs, built once per config. */
export interface AcceptPolicy {
  /** Peers that must send a PROXY header; null: the frontend takes none. */
  readonly proxyTrusted: BlockList | null;
  readonly proxyTimeoutMs: number;
  /** The frontend's per-client limits (kept across reloads); null: none. */
  readonly limits: ClientLimits | null;
  /** A trusted peer's header was missing, malformed or late: the connection was closed. */
  proxyError(code: ProxyReadErrorCode, peer: string): void;
}

/** The accept policy of `config`, with the frontend's limit table. */
export function acceptPolicyOf(config: FrontendConfig, limits: ClientLimits | null, proxyError: AcceptPolicy['proxyError']): AcceptPolicy {
  return {
    proxyTrusted: config.proxyProtocol ? cidrList(config.proxyProtocol.trusted) : null,
    proxyTimeoutMs: config.proxyProtocol?.timeoutMs ?? 0,
    limits,
    proxyError,
  };
}

/** Serves an accepted connection; `carried` when its addresses came from a PROXY header. */
export type Serve = (addresses: ConnectionAddresses, carried: boolean) => void;

/**
 * Takes `socket` (paused, unread) through the PROXY header and the limits; calls
 * `serve` with its addresses, or closes it. The socket is still paused when served.
 */
export function acceptConnection(socket: Socket, policy: AcceptPolicy, serve: Serve): void {
  const own = socketAddresses(socket);
  if (policy.proxyTrusted === null || !inBlockList(policy.proxyTrusted, own.clientAddress)) {
    // An untrusted peer's PROXY header is not read: TLS or the HTTP parser refuse it as the garbage it is to them.
    admit(socket, own, false, policy, serve);
    return;
  }
  readProxyHeader(socket, policy.proxyTimeoutMs, (result) => {
    if (!result.ok) {
      policy.proxyError(result.code, own.clientAddress);
      socket.destroy();
      return;
    }
    const carried = result.header.addresses;
    admit(socket, carried ?? own, carried !== null, policy, serve);
  });
}

function admit(socket: Socket, addresses: ConnectionAddresses, carried: boolean, policy: AcceptPolicy, serve: Serve): void {
  const limits = policy.limits;
  if (limits !== null) {
    const release = limits.admitConnection(addresses.clientAddress);
    if (release === null) {
      socket.destroy();
      return;
    }
    socket.on('close', release);
  }
  serve(addresses, carried);
}
