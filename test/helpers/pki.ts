// Certificates made per test run: a CA for the balancer's front certificate and
// self-signed or CA-issued certificates for backends.
import { createAuthority, issueCertificate, type Authority } from '../../src/dev/pki.js';

export interface TestPki {
  /** Signs the balancer's front certificate; clients trust it. */
  readonly ca: Authority;
  /** Front certificate for localhost / 127.0.0.1, signed by `ca`. */
  readonly front: Authority;
  /** Issues another certificate signed by `ca`. */
  issue(commonName: string, altNames?: readonly string[], validity?: { notBefore?: Date; notAfter?: Date }): Authority;
  /** A self-signed certificate (its own trust anchor, as a backend's in stunnel setups). */
  selfSigned(commonName: string, altNames?: readonly string[], validity?: { notBefore?: Date; notAfter?: Date }): Authority;
}

let cached: TestPki | undefined;

/** One PKI per test file (key generation is the slow part). */
export function testPki(): TestPki {
  if (cached) return cached;
  const ca = createAuthority('Doorman Test CA');
  const issue: TestPki['issue'] = (commonName, altNames, validity) =>
    issueCertificate({ commonName, altNames: altNames ?? [commonName], issuer: ca, ...validity });
  cached = {
    ca,
    front: issue('localhost', ['localhost', '127.0.0.1']),
    issue,
    selfSigned: (commonName, altNames, validity) => issueCertificate({ commonName, altNames: altNames ?? [commonName], ...validity }),
  };
  return cached;
}
