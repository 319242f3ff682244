// Certificate generation with node-forge, for the demo, `npm run certs` and tests.
// Never used to verify anything: verification is Node's TLS and X509Certificate.
import { generateKeyPairSync } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';

/** A PEM certificate and its PEM private key. */
export interface Issued {
  readonly cert: string;
  readonly key: string;
}

/** A certificate authority that can sign other certificates. */
export interface Authority extends Issued {
  readonly forgeCert: forge.pki.Certificate;
  readonly forgeKey: forge.pki.rsa.PrivateKey;
}

export interface IssueOptions {
  /** Subject common name. */
  readonly commonName: string;
  /** DNS names and IP addresses for subjectAltName (default: the common name). */
  readonly altNames?: readonly string[];
  /** Signing authority; absent: self-signed. */
  readonly issuer?: Authority;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  /** RSA modulus size (default 2048). */
  readonly bits?: number;
  /** Also good for TLS client authentication (a certificate Doorman presents to servers). */
  readonly clientAuth?: boolean;
}

const DAY_MS = 86_400_000;
let serial = Date.now();

function nextSerial(): string {
  serial += 1;
  return '01' + serial.toString(16).padStart(14, '0');
}

function altName(name: string): { type: number; value?: string; ip?: string } {
  return isIP(name) ? { type: 7, ip: name } : { type: 2, value: name };
}

function build(options: IssueOptions, isCa: boolean): Authority {
  const keys = forge.pki.rsa.generateKeyPair({ bits: options.bits ?? 2048, e: 0x10001 });
  const cert = forge.pki.createCertificate();
  cert.publicKey = keys.publicKey;
  cert.serialNumber = nextSerial();
  cert.validity.notBefore = options.notBefore ?? new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = options.notAfter ?? new Date(Date.now() + 365 * DAY_MS);
  const subject = [{ name: 'commonName', value: options.commonName }];
  cert.setSubject(subject);
  cert.setIssuer(options.issuer ? options.issuer.forgeCert.subject.attributes : subject);
  const extensions: object[] = [{ name: 'basicConstraints', cA: isCa, critical: isCa }];
  if (isCa) {
    extensions.push({ name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true });
  } else {
    extensions.push(
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: options.clientAuth === true },
      { name: 'subjectAltName', altNames: (options.altNames ?? [options.commonName]).map(altName) },
    );
  }
  extensions.push({ name: 'subjectKeyIdentifier' });
  cert.setExtensions(extensions);
  cert.sign(options.issuer?.forgeKey ?? keys.privateKey, forge.md.sha256.create());
  return {
    cert: forge.pki.certificateToPem(cert),
    key: forge.pki.privateKeyToPem(keys.privateKey),
    forgeCert: cert,
    forgeKey: keys.privateKey,
  };
}

/** A new self-signed certificate authority. */
export function createAuthority(commonName: string): Authority {
  return build({ commonName }, true);
}

/** A server certificate, signed by `issuer` or self-signed. */
export function issueCertificate(options: IssueOptions): Authority {
  return build(options, false);
}

/** forge has this function but its typings do not list it. */
const getTBSCertificate = (forge.pki as unknown as { getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate;

/**
 * An ECDSA P-256 server certificate signed by an RSA authority: a front certificate
 * whose handshake signature costs a fraction of RSA-2048's. node-forge only knows RSA
 * keys, so the certificate is built with a stand-in RSA public key whose
 * SubjectPublicKeyInfo is swapped for the EC key's before the authority signs it.
 */
export function issueEcdsaCertificate(options: IssueOptions & { readonly issuer: Authority }): Issued {
  const issuer = options.issuer;
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const cert = forge.pki.createCertificate();
  cert.publicKey = issuer.forgeCert.publicKey; // stand-in, replaced below
  cert.serialNumber = nextSerial();
  cert.validity.notBefore = options.notBefore ?? new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = options.notAfter ?? new Date(Date.now() + 365 * DAY_MS);
  cert.setSubject([{ name: 'commonName', value: options.commonName }]);
  cert.setIssuer(issuer.forgeCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    // ECDSA signs the handshake; there is no key encipherment.
    { name: 'keyUsage', digitalSignature: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: (options.altNames ?? [options.commonName]).map(altName) },
  ]);
  // What cert.sign would set: the algorithm inside and outside the signed part.
  cert.signatureOid = forge.pki.oids['sha256WithRSAEncryption']!;
  (cert as unknown as { siginfo: { algorithmOid: string } }).siginfo.algorithmOid = cert.signatureOid;
  const tbs = getTBSCertificate(cert);
  const SPKI_INDEX = 6; // version, serial, signature, issuer, validity, subject, spki
  const spkiDer = ec.publicKey.export({ type: 'spki', format: 'der' });
  (tbs.value as forge.asn1.Asn1[])[SPKI_INDEX] = forge.asn1.fromDer(forge.util.createBuffer(spkiDer.toString('binary')));
  const digest = forge.md.sha256.create().update(forge.asn1.toDer(tbs).getBytes());
  // certificateToPem writes tbsCertificate, signatureOid and signature as they are.
  Object.assign(cert, { tbsCertificate: tbs, signature: issuer.forgeKey.sign(digest) });
  return {
    cert: forge.pki.certificateToPem(cert),
    key: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}
