// Just enough DER to read what Node's X509Certificate does not expose and ACME Renewal
// Information needs (RFC 9773 §4.1): the serial number's encoded bytes and the Authority
// Key Identifier's keyIdentifier. A reader of lengths and tags that throws on anything
// malformed, never a general ASN.1 parser.

/** One tag-length-value: the content is `bytes[start, end)`, the next item starts at `end`. */
interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const OID = 0x06;
const BOOLEAN = 0x01;
const OCTET_STRING = 0x04;
/** [3] EXPLICIT, constructed: the certificate's extensions. */
const EXTENSIONS = 0xa3;
/** [0] IMPLICIT, primitive: AuthorityKeyIdentifier.keyIdentifier. */
const KEY_IDENTIFIER = 0x80;
/** 2.5.29.35, authorityKeyIdentifier. */
const AKI_OID = Buffer.from([0x55, 0x1d, 0x23]);

function readTlv(bytes: Uint8Array, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw new Error('DER: truncated');
  const tag = bytes[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Error('DER: multi-byte tags are not expected here');
  let length = bytes[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new Error('DER: unsupported length');
    if (start + count > limit) throw new Error('DER: truncated length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i]!;
    start += count;
  }
  const end = start + length;
  if (end > limit) throw new Error('DER: content runs past its container');
  return { tag, start, end };
}

function expect(tlv: Tlv | undefined, tag: number, what: string): Tlv {
  if (tlv?.tag !== tag) throw new Error(`DER: expected ${what}`);
  return tlv;
}

/** The items directly inside a constructed `parent`. */
function children(bytes: Uint8Array, parent: Tlv): Tlv[] {
  const items: Tlv[] = [];
  for (let offset = parent.start; offset < parent.end;) {
    const item = readTlv(bytes, offset, parent.end);
    items.push(item);
    offset = item.end;
  }
  return items;
}

/** What ARI's certificate ID is made of, read from a certificate's DER. */
export interface CertificateIdParts {
  /** The serial number's INTEGER content bytes, as encoded (a leading 0x00 kept). */
  readonly serial: Buffer;
  /** The Authority Key Identifier's keyIdentifier; null when the certificate has none. */
  readonly authorityKeyId: Buffer | null;
}

/** Reads the serial number and Authority Key Identifier of a DER certificate; throws if it is malformed. */
export function readCertificateIdParts(der: Uint8Array): CertificateIdParts {
  const certificate = expect(readTlv(der, 0, der.length), SEQUENCE, 'a Certificate SEQUENCE');
  const tbs = expect(children(der, certificate)[0], SEQUENCE, 'a TBSCertificate SEQUENCE');
  const fields = children(der, tbs);
  // The version is an optional [0]; the serial number follows it.
  const serialField = expect(fields[fields[0]?.tag === 0xa0 ? 1 : 0], INTEGER, 'the serial number');
  const serial = Buffer.from(der.subarray(serialField.start, serialField.end));
  let authorityKeyId: Buffer | null = null;
  const extensions = fields.find((field) => field.tag === EXTENSIONS);
  if (extensions) {
    const list = expect(children(der, extensions)[0], SEQUENCE, 'the extensions SEQUENCE');
    for (const extension of children(der, list)) {
      const [id, ...rest] = children(der, expect(extension, SEQUENCE, 'an Extension'));
      if (!AKI_OID.equals(der.subarray(expect(id, OID, 'an extension OID').start, id!.end))) continue;
      // `critical` is an optional BOOLEAN before the value.
      const value = expect(rest[0]?.tag === BOOLEAN ? rest[1] : rest[0], OCTET_STRING, 'the extension value');
      const aki = expect(readTlv(der, value.start, value.end), SEQUENCE, 'an AuthorityKeyIdentifier');
      const keyId = children(der, aki).find((part) => part.tag === KEY_IDENTIFIER);
      if (keyId) authorityKeyId = Buffer.from(der.subarray(keyId.start, keyId.end));
    }
  }
  return { serial, authorityKeyId };
}
