// The renewal schedule and ARI's certificate ID: pure decisions and a DER reader, checked
// against RFC 9773's own example and against certificates built with chosen serials and
// Authority Key Identifiers.
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import forge from 'node-forge';
import { describe, expect, it } from 'vitest';
import { ariCertificateId, parseRenewalInfo } from '../../src/acme/ari.js';
import { readCertificateIdParts } from '../../src/acme/der.js';
import { backoffDelay, renewalTime } from '../../src/acme/schedule.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;

describe('renewalTime', () => {
  const ninetyDays = { notBeforeMs: 0, notAfterMs: 90 * DAY };
  const cases: Array<[string, Parameters<typeof renewalTime>, number]> = [
    ['a third of the lifetime left, no jitter', [ninetyDays, null, null, 0], 60 * DAY],
    ['a third left, half the jitter: 2 h earlier (at most min(lifetime / 20, 4 h))', [ninetyDays, null, null, 0.5], 60 * DAY - 2 * HOUR],
    ['renewBefore', [ninetyDays, 10 * DAY, null, 0], 80 * DAY],
    ['renewBefore longer than the lifetime: due before it began', [ninetyDays, 100 * DAY, null, 0], -10 * DAY],
    [
      'short lifetime: jitter at most a twentieth of it',
      [{ notBeforeMs: 0, notAfterMs: 6 * HOUR }, null, null, 0.5],
      4 * HOUR - (0.5 * (6 * HOUR)) / 20,
    ],
    ['the ARI window wins, start', [ninetyDays, 10 * DAY, { startMs: 50 * DAY, endMs: 52 * DAY }, 0], 50 * DAY],
    ['the ARI window, middle', [ninetyDays, null, { startMs: 50 * DAY, endMs: 52 * DAY }, 0.5], 51 * DAY],
  ];
  it.each(cases)('%s', (_name, args, expected) => {
    expect(renewalTime(...args)).toBe(expected);
  });

  it('always lands inside the ARI window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e12 }),
        fc.integer({ min: 0, max: 1e10 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (start, length, random) => {
          const at = renewalTime(ninetyDays, null, { startMs: start, endMs: start + length }, random);
          return at >= start && at <= start + length;
        },
      ),
    );
  });
});

describe('backoffDelay', () => {
  it.each([
    [1, 0, 1_000],
    [2, 0, 2_000],
    [4, 0, 8_000],
    [30, 0, 60_000],
    [1, 0.99, 1_099],
    [30, 0.99, 60_000],
  ])('after %i failures (random %f): %i ms', (failures, random, expected) => {
    expect(backoffDelay(failures, 1_000, 60_000, random)).toBe(expected);
  });

  it('never shrinks and never passes max', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.integer({ min: 1, max: 1e6 }),
        fc.integer({ min: 1, max: 1e8 }),
        (failures, min, extra) => {
          const max = min + extra;
          const now = backoffDelay(failures, min, max, 0);
          return now <= max && now >= min && backoffDelay(failures + 1, min, max, 0) >= now;
        },
      ),
    );
  });
});

/** A certificate with the given serial (hex, DER content bytes) and Authority Key Identifier (hex, or none). */
const signingKey = forge.pki.privateKeyFromPem(
  generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
);
function certificate(serialHex: string, akiHex: string | null, critical = false): Buffer {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(signingKey.n, signingKey.e);
  cert.serialNumber = serialHex;
  cert.validity.notBefore = new Date(0);
  cert.validity.notAfter = new Date(DAY);
  cert.setSubject([{ name: 'commonName', value: 'ari.test' }]);
  cert.setIssuer([{ name: 'commonName', value: 'ARI Test CA' }]);
  const extensions: object[] = [{ name: 'basicConstraints', cA: false }];
  if (akiHex !== null) extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: forge.util.hexToBytes(akiHex), critical });
  extensions.push({ name: 'subjectAltName', altNames: [{ type: 2, value: 'ari.test' }] });
  cert.setExtensions(extensions);
  cert.sign(signingKey, forge.md.sha256.create());
  return Buffer.from(forge.asn1.toDer(forge.pki.certificateToAsn1(cert)).getBytes(), 'binary');
}

const pem = (der: Buffer) => new X509Certificate(der).toString();

describe('ARI certificate ID (RFC 9773 §4.1)', () => {
  it("matches the RFC's example", () => {
    const der = certificate('0087654321', '69885b6b87464041e1b37b847ba0ae2cde01c8d4');
    expect(ariCertificateId(pem(der))).toBe('aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE');
  });

  it('reads back any serial and key identifier (a critical AKI too)', () => {
    const serial = fc
      .uint8Array({ minLength: 1, maxLength: 20 })
      .filter((b) => !(b.length > 1 && b[0] === 0 && b[1]! < 0x80))
      .map((b) => (b[0]! >= 0x80 ? Buffer.concat([Buffer.from([0]), b]) : Buffer.from(b)).toString('hex'));
    const keyId = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => Buffer.from(b).toString('hex'));
    fc.assert(
      fc.property(serial, keyId, fc.boolean(), (serialHex, akiHex, critical) => {
        const parts = readCertificateIdParts(certificate(serialHex, akiHex, critical));
        return parts.serial.toString('hex') === serialHex && parts.authorityKeyId?.toString('hex') === akiHex;
      }),
      { numRuns: 40 },
    );
  });

  it('has no ID without an Authority Key Identifier, and rejects what is not DER', () => {
    expect(readCertificateIdParts(certificate('01', null)).authorityKeyId).toBeNull();
    expect(() => ariCertificateId(pem(certificate('01', null)))).toThrow('no Authority Key Identifier');
    const der = certificate('0087654321', '69885b6b87464041e1b37b847ba0ae2cde01c8d4');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: der.length - 1 }), (cut) => {
        expect(() => readCertificateIdParts(der.subarray(0, cut))).toThrow(/DER/);
      }),
      { numRuns: 50 },
    );
  });

  it('parses a renewalInfo answer and refuses a broken one', () => {
    expect(parseRenewalInfo({ suggestedWindow: { start: '2025-01-02T04:00:00Z', end: '2025-01-03T04:00:00Z' } })).toEqual({
      startMs: Date.parse('2025-01-02T04:00:00Z'),
      endMs: Date.parse('2025-01-03T04:00:00Z'),
    });
    for (const body of [
      null,
      {},
      { suggestedWindow: { start: 'x', end: 'y' } },
      { suggestedWindow: { start: '2025-01-03T00:00:00Z', end: '2025-01-02T00:00:00Z' } },
    ]) {
      expect(() => parseRenewalInfo(body)).toThrow('renewalInfo');
    }
  });
});
