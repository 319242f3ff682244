// What Doorman reads from a certificate (file or ACME): its names, issuer and validity,
// parsed by Node's X509Certificate. Also the check that a stored pair is usable.
import { X509Certificate, createPrivateKey } from 'node:crypto';

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** A certificate as /api/certs, the metrics and the renewal schedule see it. */
export interface CertificateFacts {
  /** DNS names (subjectAltName, else the CN), lower-case. */
  readonly names: readonly string[];
  /** The issuer's common name (its whole subject when it has none). */
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** The PEM blocks of a chain, leaf first. */
export function splitChain(pem: string): string[] {
  return pem.match(PEM_CERTIFICATE) ?? [];
}

/** The leaf of a PEM chain; throws when there is none or it does not parse. */
export function leafOf(pem: string): X509Certificate {
  const first = splitChain(pem)[0];
  if (first === undefined) throw new Error('no PEM certificate');
  return new X509Certificate(first);
}

function commonName(distinguishedName: string): string | undefined {
  return /(?:^|\n)CN=([^\n]+)/.exec(distinguishedName)?.[1];
}

/** Names, issuer and validity of a parsed certificate. */
export function factsOf(x509: X509Certificate): CertificateFacts {
  const san = x509.subjectAltName;
  const names = san
    ? san
        .split(', ')
        .filter((entry) => entry.startsWith('DNS:'))
        .map((entry) => entry.slice(4).toLowerCase())
    : [commonName(x509.subject)?.toLowerCase()].filter((name): name is string => name !== undefined);
  return {
    names,
    issuer: commonName(x509.issuer) ?? x509.issuer.replace(/\n/g, ', '),
    notBefore: new Date(x509.validFrom),
    notAfter: new Date(x509.validTo),
  };
}

/**
 * Why a stored certificate and key cannot serve `domains`, or null when they can: both
 * parse, the key is the certificate's, and the certificate names every domain.
 */
export function pairProblem(certPem: string, keyPem: string, domains: readonly string[]): string | null {
  let leaf: X509Certificate;
  try {
    leaf = leafOf(certPem);
  } catch (err) {
    return `the certificate does not parse (${(err as Error).message})`;
  }
  try {
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) return "the key is not the certificate's";
  } catch (err) {
    return `the key does not parse or does not fit the certificate (${(err as Error).message})`;
  }
  const names = new Set(factsOf(leaf).names);
  const missing = domains.filter((domain) => !names.has(domain));
  return missing.length > 0 ? `the certificate does not name ${missing.join(', ')}` : null;
}
