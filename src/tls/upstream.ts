// How Doorman reaches one server: TLS that fails closed, with the server's own trust
// anchor, name check and SPKI pins (and a client certificate for mutual TLS); or plain TCP.
import { readFileSync } from 'node:fs';
import net, { isIP } from 'node:net';
import tls, { checkServerIdentity, createSecureContext, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import type { ServerConfig } from '../config/types.js';
import { encodeProxyHeader } from '../proxy-protocol/encode.js';
import { matchesPins, PinMismatchError } from './pin.js';

/** The name a server's certificate must carry: its `servername`, else its address host. */
export function expectedServerName(server: ServerConfig): string {
  return server.tls?.servername ?? server.address.host;
}

/**
 * Verifies the server name and, when pins are configured, the SPKI pin. Chain
 * verification against `ca` has already happened in OpenSSL by the time this runs.
 */
export function createIdentityCheck(name: string, pins: readonly string[]) {
  const pinSet = new Set(pins);
  return function checkIdentity(_host: string, cert: PeerCertificate): Error | undefined {
    const nameError = checkServerIdentity(name, cert);
    if (nameError) return nameError;
    if (pinSet.size === 0) return undefined;
    const { ok, pin } = matchesPins(cert, pinSet);
    return ok ? undefined : new PinMismatchError(pin);
  };
}

/** The server's trust anchor file, read now; null for system CAs or plain HTTP. */
export function readCa(server: ServerConfig): Buffer | null {
  return server.tls?.ca ? readFileSync(server.tls.ca) : null;
}

/** The TLS options that reach one server and fail closed: its trust anchor, name and pins; null for plain TCP. */
export function upstreamTlsOptions(server: ServerConfig, ca: Buffer | null = readCa(server)): ConnectionOptions | null {
  const tls = server.tls;
  if (!tls) return null;
  const name = expectedServerName(server);
  // A client certificate (mutual TLS) is read with the CA, once per config.
  const client = tls.cert && tls.key ? { cert: readFileSync(tls.cert), key: readFileSync(tls.key) } : {};
  return {
    // One context per server: passing `ca` instead would parse it again on every connection.
    secureContext: createSecureContext({ ca: ca ?? undefined, minVersion: 'TLSv1.2', ...client }),
    // SNI must not be an IP address (RFC 6066); the name check still applies to it.
    servername: isIP(name) ? undefined : name,
    rejectUnauthorized: true,
    checkServerIdentity: createIdentityCheck(name, tls.pins),
  };
}

/** Opens one fresh connection to a server (health checks); `alpn` is offered on TLS when given. */
export type Dialer = (alpn?: readonly string[]) => net.Socket;

/**
 * A dialer for one server with its TLS options (upstreamTlsOptions; null for plain TCP).
 * A server that takes a PROXY header gets one naming no client first (v2 LOCAL, v1
 * UNKNOWN: the connection is Doorman's own, a health check), before TLS.
 */
export function createDialer(server: ServerConfig, tlsOptions: ConnectionOptions | null): Dialer {
  const { host, port } = server.address;
  const preface = server.proxyProtocol ? encodeProxyHeader(server.proxyProtocol, null) : null;
  const tcp = (): net.Socket => {
    const socket = net.connect({ host, port, noDelay: true });
    if (preface !== null) socket.write(preface);
    return socket;
  };
  if (tlsOptions === null) return tcp;
  return (alpn) => {
    const alpnOption = alpn ? { ALPNProtocols: [...alpn] } : {};
    const socket =
      preface === null
        ? tls.connect({ ...tlsOptions, host, port, ...alpnOption })
        : tls.connect({ ...tlsOptions, socket: tcp(), ...alpnOption });
    socket.setNoDelay(true);
    return socket;
  };
}
