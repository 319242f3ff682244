// The bench's throwaway PKI, made per run with node-forge through Doorman's own
// dev helper (dist/dev/pki.js, so `npm run build` must have run): one CA, a front
// certificate for 127.0.0.1/localhost and one certificate per web server. RSA-2048,
// except a front certificate with `frontKey: 'ecdsa'` (P-256, signed by the same CA).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Writes the PEM files into `dir` and returns their paths, contents and SPKI pins. */
export async function makeCerts(dir, serverNames, { frontKey = 'rsa' } = {}) {
  const { createAuthority, issueCertificate, issueEcdsaCertificate } = await import('../../dist/dev/pki.js');
  const { spkiPin } = await import('../../dist/tls/pin.js');
  const ca = createAuthority('Doorman bench CA');
  const write = (name, text) => {
    const file = join(dir, name);
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  const caFile = write('ca.crt', ca.cert);
  const frontOptions = { commonName: 'localhost', altNames: ['localhost', '127.0.0.1'], issuer: ca };
  const front = frontKey === 'ecdsa' ? issueEcdsaCertificate(frontOptions) : issueCertificate(frontOptions);
  const result = {
    dir,
    ca: ca.cert,
    caFile,
    front: {
      cert: write('front.crt', front.cert),
      key: write('front.key', front.key),
      // HAProxy wants the certificate and its key in one PEM.
      pem: write('front.pem', front.cert + front.key),
      servername: 'localhost',
    },
    servers: {},
  };
  for (const name of serverNames) {
    const pair = issueCertificate({ commonName: name, altNames: [name, '127.0.0.1'], issuer: ca });
    result.servers[name] = {
      cert: write(`${name}.crt`, pair.cert),
      key: write(`${name}.key`, pair.key),
      pin: spkiPin(pair.cert),
      servername: name,
    };
  }
  return result;
}
