// Frontend TLS: one SecureContext per certificate, chosen by SNI, with a modern
// cipher list and session tickets shared by every context of the process. Names a
// frontend gets from ACME are looked up first in the certificates issued so far, and
// a tls-alpn-01 validation gets its challenge certificate for that one handshake.
import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext, type TlsOptions } from 'node:tls';
import type { FrontendTlsConfig } from '../config/types.js';
import type { PemPair } from './self-signed.js';

/** The ALPN protocol of tls-alpn-01 validations (RFC 8737). */
export const ACME_TLS_ALPN = 'acme-tls/1';

/** Certificates that arrive while the process runs (ACME), read at every handshake. */
export interface DynamicCertificates {
  /** The certificate issued for `name`, once there is one: the same object until it is replaced. */
  certificate(name: string): PemPair | undefined;
  /** The tls-alpn-01 challenge certificate for `name`, while a validation of it is pending. */
  alpnChallenge(name: string): SecureContext | undefined;
}

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
  /**
   * The context for an SNI name: an ACME certificate, then exact, then wildcard, then the
   * first certificate. `handshake` is the TLS socket, for tls-alpn-01 (see acmeChallenge).
   */
  contextFor(servername: string | undefined, handshake?: object): SecureContext;
  /**
   * True when `handshake` is a tls-alpn-01 validation of a pending challenge: ALPN then
   * answers acme-tls/1 and contextFor the challenge certificate. In TLS 1.3 OpenSSL
   * selects ALPN before the certificate; a TLS 1.2 handshake whose certificate is already
   * chosen is not one (refused rather than answered with the wrong certificate).
   */
  acmeChallenge(handshake: object, servername: string | undefined, offered: readonly string[]): boolean;
}

/** Options for a frontend's TLS beyond its config. */
export interface FrontendTlsOptions {
  /** Shared session ticket keys: resumption works across contexts (and workers given the same). */
  readonly ticketKeys?: Buffer;
  /** Where certificates issued by ACME are found. */
  readonly dynamic?: DynamicCertificates;
  /** The stand-in when `certs` is empty (ACME names only), until the CA's certificate arrives. */
  readonly placeholder?: () => PemPair;
}

/**
 * Builds a frontend's contexts from its certificate files. Unknown or missing SNI
 * gets the first certificate. `ticketKeys` lets resumption work across contexts
 * (and, given the same keys, across worker processes).
 */
export function createFrontendTls(tls: FrontendTlsConfig, options: FrontendTlsOptions = {}): FrontendTls {
  const base = baseOptions(tls, options.ticketKeys ?? randomBytes(48));
  // Read each file once: the first pair also serves as the server's default certificate.
  const files = tls.certs.map((pair) => ({ cert: readFileSync(pair.cert), key: readFileSync(pair.key) }));
  if (files.length === 0 && !options.placeholder) throw new Error('a frontend without certs needs a placeholder certificate');
  const pairs = files.length > 0 ? files : [options.placeholder!()];
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
  const acmeNames = new Set(tls.acme?.domains ?? []);
  const alpnNames = tls.acme?.challenge === 'tls-alpn-01' ? acmeNames : new Set<string>();
  const dynamic = options.dynamic;
  // One context per issued certificate, made at its first handshake.
  const issuedContexts = new WeakMap<PemPair, SecureContext>();
  // Handshakes answering a tls-alpn-01 challenge, and those whose certificate is chosen.
  const challengeHandshakes = new WeakSet();
  const chosenHandshakes = new WeakSet();

  function issuedContext(name: string): SecureContext | undefined {
    const pair = dynamic?.certificate(name);
    if (!pair) return undefined;
    let context = issuedContexts.get(pair);
    if (!context) issuedContexts.set(pair, (context = createSecureContext({ ...base, cert: pair.cert, key: pair.key })));
    return context;
  }

  function contextFor(servername: string | undefined, handshake?: object): SecureContext {
    if (handshake) {
      chosenHandshakes.add(handshake);
      if (challengeHandshakes.has(handshake) && servername) {
        const challenge = dynamic?.alpnChallenge(servername.toLowerCase());
        if (challenge) return challenge;
      }
    }
    if (!servername) return fallback;
    const name = servername.toLowerCase();
    if (acmeNames.has(name)) {
      const issued = issuedContext(name);
      if (issued) return issued;
    }
    const hit = exact.get(name);
    if (hit) return hit;
    const dot = name.indexOf('.');
    return (dot > 0 && wildcard.get(name.slice(dot + 1))) || fallback;
  }

  function acmeChallenge(handshake: object, servername: string | undefined, offered: readonly string[]): boolean {
    if (!servername || !offered.includes(ACME_TLS_ALPN) || chosenHandshakes.has(handshake)) return false;
    const name = servername.toLowerCase();
    if (!alpnNames.has(name) || !dynamic?.alpnChallenge(name)) return false;
    challengeHandshakes.add(handshake);
    return true;
  }

  const first = pairs[0]!;
  return {
    serverOptions: { ...base, cert: first.cert, key: first.key },
    contextFor,
    acmeChallenge,
  };
}
