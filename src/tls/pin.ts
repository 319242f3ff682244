// SPKI pinning: "sha256/" + base64 of the SHA-256 of a certificate's DER SubjectPublicKeyInfo,
// the format of HPKP and of curl's --pinnedpubkey.
import { createHash, X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { LbError } from '../errors.js';

/** The pin of a certificate given as DER bytes, PEM text or an X509Certificate. */
export function spkiPin(cert: Buffer | string | X509Certificate): string {
  const x509 = cert instanceof X509Certificate ? cert : new X509Certificate(cert);
  const spki = x509.publicKey.export({ type: 'spki', format: 'der' });
  return 'sha256/' + createHash('sha256').update(spki).digest('base64');
}

/** Raised from the TLS handshake when the server's key matches none of its pins. */
export class PinMismatchError extends LbError<'LB_ERR_UPSTREAM_TLS'> {
  constructor(readonly pin: string) {
    super('LB_ERR_UPSTREAM_TLS', 'tls: pin mismatch');
    this.name = 'PinMismatchError';
  }
}

/** True when the peer certificate's SPKI pin is one of `pins`. */
export function matchesPins(cert: PeerCertificate, pins: ReadonlySet<string>): { ok: boolean; pin: string } {
  const pin = spkiPin(cert.raw);
  return { ok: pins.has(pin), pin };
}
