// Frontend TLS: one SecureContext per certificate, chosen by SNI, with a modern
// cipher list and session tickets shared by every context of the process.
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext, type TlsOptions } from 'node:tls';
import type { FrontendTlsConfig } from '../config/types.js';

/**
 * TLS 1.3 suites, then TLS 1.2 ECDHE with AEAD only: no CBC, no static-RSA key
 * exchange, no DHE. Node's default list still accepts CBC and static RSA.
 */
export const FRONTEND_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

interface NamedContext {
  readonly names: readonly string[];
  readonly context: SecureContext;
}

/** The DNS names a certificate answers for (SAN, else CN), lower-cased. */
function certificateNames(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (san) {
    return san
      .split(', ')
      .filter((entry) => entry.startsWith('DNS:'))
      .map((entry) => entry.slice(4).toLowerCase());
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject);
  return cn?.[1] ? [cn[1].toLowerCase()] : [];
}

/** Options shared by every frontend context: versions, ciphers, tickets. */
function baseOptions(tls: FrontendTlsConfig, ticketKeys: Buffer): TlsOptions {
  return {
    minVersion: tls.minVersion,
    ciphers: FRONTEND_CIPHERS,
    honorCipherOrder: true,
    ecdhCurve: 'X25519:P-256:P-384',
    ticketKeys,
    sessionTimeout: 300,
  };
}

/** The TLS side of one frontend: server options and the SNI lookup. */
export interface FrontendTls {
  /**
   * Options for `https.createServer`, the default certificate included. No
   * `SNICallback`: the listener installs its own, routed through `contextFor`.
   */
  readonly serverOptions: TlsOptions;
  /** The context for an SNI name: exact, then wildcard, then the first certificate. */
  contextFor(servername: string | undefined): SecureContext;
}

/**
 * Builds a frontend's contexts from its certificate files. Unknown or missing SNI
 * gets the first certificate. `ticketKeys` lets resumption work across contexts
 * (and, given the same keys, across worker processes).
 */
export function createFrontendTls(tls: FrontendTlsConfig, ticketKeys: Buffer = randomBytes(48)): FrontendTls {
  const base = baseOptions(tls, ticketKeys);
  // Read each file once: the first pair also serves as the server's default certificate.
  const pairs = tls.certs.map((pair) => ({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) }));
  const contexts: NamedContext[] = pairs.map(({ cert, key }) => ({
    names: certificateNames(new X509Certificate(cert)),
    context: createSecureContext({ ...base, cert, key }),
  }));
  const exact = new Map<string, SecureContext>();
  const wildcard = new Map<string, SecureContext>();
  // Earlier certificates win when two claim the same name.
  for (const { names, context } of [...contexts].reverse()) {
    for (const name of names) {
      if (name.startsWith('*.')) wildcard.set(name.slice(2), context);
      else exact.set(name, context);
    }
  }
  const fallback = contexts[0]!.context;

  function contextFor(servername: string | undefined): SecureContext {
    if (!servername) return fallback;
    const name = servername.toLowerCase();
    const hit = exact.get(name);
    if (hit) return hit;
    const dot = name.indexOf('.');
    return (dot > 0 && wildcard.get(name.slice(dot + 1))) || fallback;
  }

  const first = pairs[0]!;
  return {
    serverOptions: { ...base, cert: first.cert, key: first.key },
    contextFor,
  };
}
