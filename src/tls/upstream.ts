// The connector undici uses to reach one server: TLS that fails closed, with the
// server's own trust anchor, name check and SPKI pins; or plain TCP.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { checkServerIdentity, createSecureContext, type ConnectionOptions, type PeerCertificate } from 'node:tls';
import { buildConnector } from 'undici';
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

/** undici's connector signature, with `protocol` left to us. */
export type Connector = buildConnector.connector;

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

/**
 * A connector for one server. Pools are created with an `http:` origin so undici
 * never derives SNI from the client's Host header; TLS is decided here, per server.
 * A server that takes a PROXY header gets one naming no client first (v2 LOCAL, v1
 * UNKNOWN: the connection is Doorman's own, e.g. a health check), before TLS.
 */
export function createUpstreamConnector(server: ServerConfig, connectTimeoutMs: number, ca: Buffer | null = readCa(server)): Connector {
  const tlsOptions = upstreamTlsOptions(server, ca);
  const tcpConnect = buildConnector({ timeout: connectTimeoutMs, noDelay: true } as buildConnector.BuildOptions);
  const preface = server.proxyProtocol ? encodeProxyHeader(server.proxyProtocol, null) : null;
  const tcp: Connector =
    preface === null
      ? tcpConnect
      : (options, callback) =>
          tcpConnect({ ...options, protocol: 'http:' }, (...result) => {
            result[1]?.write(preface);
            callback(...result);
          });
  if (!tlsOptions) return tcp;
  // An HTTP/2 server is offered h2 too, for the health checks (undici's allowH2).
  const allowH2 = server.protocol === 'h2';
  const tlsConnect = buildConnector({ timeout: connectTimeoutMs, noDelay: true, allowH2, ...tlsOptions } as buildConnector.BuildOptions);
  const sni = tlsOptions.servername ?? '';
  if (preface === null) return (options, callback) => tlsConnect({ ...options, protocol: 'https:', servername: sni }, callback);
  // TCP first (with the header), then TLS over it: undici's `httpSocket`.
  return (options, callback) =>
    tcp(options, (...result) => {
      if (result[0] !== null) callback(...result);
      else tlsConnect({ ...options, protocol: 'https:', servername: sni, httpSocket: result[1] }, callback);
    });
}
