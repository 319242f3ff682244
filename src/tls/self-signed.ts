// A stand-in certificate for a frontend whose only certificates come from ACME: served
// until the CA's arrives, so the port answers TLS from the first second (clients see
// an untrusted certificate rather than a refused handshake). Generation only: node-forge
// builds and signs it, Node makes the key; nothing here verifies anything.
import { generateKeyPairSync } from 'node:crypto';
import { createRequire } from 'node:module';
import type Forge from 'node-forge';

// node-forge costs about 2 MB of heap in every process; most never make a placeholder,
// so it is loaded (synchronously: it is CommonJS) the first time one is needed.
const require = createRequire(import.meta.url);

/** A PEM certificate and its PEM private key. */
export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

const DAY_MS = 86_400_000;

/** A self-signed certificate for `names` (the first is the subject), valid for 90 days from yesterday. */
export function selfSignedCertificate(names: readonly string[]): PemPair {
  const forge = require('node-forge') as typeof Forge;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e);
  cert.serialNumber = `01${forge.util.bytesToHex(forge.random.getBytesSync(15))}`;
  cert.validity.notBefore = new Date(Date.now() - DAY_MS);
  cert.validity.notAfter = new Date(Date.now() + 90 * DAY_MS);
  const subject = [
    { name: 'commonName', value: names[0] ?? 'doorman' },
    { name: 'organizationName', value: 'Doorman placeholder' },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2, value })) },
  ]);
  cert.sign(forgeKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: keyPem };
}
