// The PROXY protocol parser and encoder: examples from the spec, then properties —
// encode → parse round trips for v1 and v2, every split of the bytes decides the same,
// and random bytes never throw and never make the parser read past a declared length.
import net from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { canonicalAddress, clientKey, formatIPv6, ipv6Groups, type ConnectionAddresses } from '../../src/client-address.js';
import { encodeProxyHeader } from '../../src/proxy-protocol/encode.js';
import { MAX_HEADER_BYTES, parseProxyHeader, V2_MAX_BYTES, V2_SIGNATURE, type ProxyParseResult } from '../../src/proxy-protocol/parse.js';
import { readProxyHeader, type ProxyReadResult } from '../../src/proxy-protocol/read-header.js';
import { once, within } from '../helpers/wait.js';

const latin1 = (text: string) => Buffer.from(text, 'latin1');

function v2(command: number, familyTransport: number, body: Buffer): Buffer {
  const fixed = Buffer.alloc(16);
  V2_SIGNATURE.copy(fixed);
  fixed[12] = command;
  fixed[13] = familyTransport;
  fixed.writeUInt16BE(body.length, 14);
  return Buffer.concat([fixed, body]);
}

function complete(result: ProxyParseResult) {
  if (result.kind !== 'complete') throw new Error(`expected a header, got ${JSON.stringify(result)}`);
  return result;
}

describe('PROXY header examples', () => {
  it('reads v1 TCP4, TCP6 and UNKNOWN lines, and leaves what follows', () => {
    const tcp4 = complete(parseProxyHeader(latin1('PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\nGET /')));
    expect(tcp4.length).toBe(45);
    expect(tcp4.header).toEqual({
      version: 1,
      addresses: { clientAddress: '192.0.2.1', clientPort: 56324, localAddress: '198.51.100.7', localPort: 443 },
    });
    const tcp6 = complete(parseProxyHeader(latin1('PROXY TCP6 2001:DB8:0:0:0:0:0:1 ::FFFF:198.51.100.7 1 65535\r\n')));
    expect(tcp6.header.addresses).toEqual({ clientAddress: '2001:db8::1', clientPort: 1, localAddress: '198.51.100.7', localPort: 65535 });
    expect(complete(parseProxyHeader(latin1('PROXY UNKNOWN\r\n'))).header).toEqual({ version: 1, addresses: null });
    expect(complete(parseProxyHeader(latin1('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n'))).header.addresses).toBeNull();
  });

  it.each([
    ['no CRLF within 107 bytes', `PROXY TCP6 ${'a'.repeat(120)}`, 'bad-v1-line'],
    ['a bare LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'bad-v1-line'],
    ['CR not followed by LF', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX', 'bad-v1-line'],
    ['a missing field', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'bad-v1-line'],
    ['two spaces', 'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', 'bad-v1-line'],
    ['an unknown protocol', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', 'bad-v1-line'],
    ['lower-case protocol', 'PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n', 'bad-v1-line'],
    ['an IPv6 address in TCP4', 'PROXY TCP4 ::1 5.6.7.8 1 2\r\n', 'bad-address'],
    ['an IPv4 address in TCP6', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n', 'bad-address'],
    ['a leading zero in an address', 'PROXY TCP4 01.2.3.4 5.6.7.8 1 2\r\n', 'bad-address'],
    ['a zone id', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', 'bad-address'],
    ['a port above 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', 'bad-port'],
    ['a port with a leading zero', 'PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n', 'bad-port'],
    ['a control byte', 'PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n', 'bad-v1-line'],
    ['an HTTP request', 'GET / HTTP/1.1\r\n\r\n', 'no-signature'],
    ['a TLS ClientHello', '\x16\x03\x01\x02\x00\x01', 'no-signature'],
    ['almost the v1 signature', 'PROXYTCP4', 'no-signature'],
    ['almost the v2 signature', '\r\n\r\n\x00\r\nQUIT\r', 'no-signature'],
  ])('refuses v1 or a non-header: %s', (_name, text, code) => {
    expect(parseProxyHeader(latin1(text))).toEqual({ kind: 'error', code });
  });

  it('reads v2 PROXY over IPv4 and IPv6, skips TLVs, and takes LOCAL, UNSPEC, UNIX and DGRAM as "no address"', () => {
    const inet = Buffer.from([192, 0, 2, 1, 198, 51, 100, 7, 0xdc, 0x04, 0x01, 0xbb]);
    const tlv = Buffer.from([0x05, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_UNIQUE_ID "abc"
    const withTlv = complete(parseProxyHeader(Buffer.concat([v2(0x21, 0x11, Buffer.concat([inet, tlv])), latin1('GET')])));
    expect(withTlv.length).toBe(16 + 12 + 6);
    expect(withTlv.header.addresses).toEqual({
      clientAddress: '192.0.2.1',
      clientPort: 56324,
      localAddress: '198.51.100.7',
      localPort: 443,
    });
    const inet6 = Buffer.alloc(36);
    inet6.writeUInt16BE(0x2001, 0);
    inet6.writeUInt16BE(0x0db8, 2);
    inet6.writeUInt16BE(1, 14);
    inet6.writeUInt16BE(0xffff, 26); // destination ::ffff:10.0.0.1
    inet6.set([10, 0, 0, 1], 28);
    inet6.writeUInt16BE(40000, 32);
    inet6.writeUInt16BE(8443, 34);
    expect(complete(parseProxyHeader(v2(0x21, 0x21, inet6))).header.addresses).toEqual({
      clientAddress: '2001:db8::1',
      clientPort: 40000,
      localAddress: '10.0.0.1',
      localPort: 8443,
    });
    expect(complete(parseProxyHeader(v2(0x20, 0x00, Buffer.alloc(0)))).header).toEqual({ version: 2, addresses: null });
    expect(complete(parseProxyHeader(v2(0x20, 0x11, inet))).header.addresses).toBeNull();
    expect(complete(parseProxyHeader(v2(0x21, 0x00, Buffer.alloc(0)))).header.addresses).toBeNull();
    expect(complete(parseProxyHeader(v2(0x21, 0x31, Buffer.alloc(216)))).header.addresses).toBeNull();
    expect(complete(parseProxyHeader(v2(0x21, 0x12, inet))).header.addresses).toBeNull();
  });

  it.each([
    ['version 1 in the v2 format', v2(0x11, 0x11, Buffer.alloc(12)), 'bad-v2-header'],
    ['an unknown command', v2(0x22, 0x11, Buffer.alloc(12)), 'bad-v2-header'],
    ['an unknown family', v2(0x21, 0x41, Buffer.alloc(12)), 'bad-v2-header'],
    ['an unknown transport', v2(0x21, 0x13, Buffer.alloc(12)), 'bad-v2-header'],
    ['an address block too short for IPv4', v2(0x21, 0x11, Buffer.alloc(11)), 'bad-v2-length'],
    ['an address block too short for IPv6', v2(0x21, 0x21, Buffer.alloc(12)), 'bad-v2-length'],
    ['a length above the bound', v2(0x21, 0x11, Buffer.alloc(V2_MAX_BYTES)), 'bad-v2-length'],
  ])('refuses v2: %s', (_name, bytes, code) => {
    expect(parseProxyHeader(bytes)).toEqual({ kind: 'error', code });
  });

  it('refuses an oversized or bad v2 header from its fixed part, before the rest arrives', () => {
    const fixed = v2(0x21, 0x11, Buffer.alloc(0));
    fixed.writeUInt16BE(60_000, 14);
    expect(parseProxyHeader(fixed)).toEqual({ kind: 'error', code: 'bad-v2-length' });
    expect(parseProxyHeader(v2(0x31, 0x11, Buffer.alloc(0)).subarray(0, 13))).toEqual({ kind: 'error', code: 'bad-v2-header' });
  });
});

// ---- properties ----------------------------------------------------------------

const port = fc.integer({ min: 0, max: 65_535 });
const address = fc.oneof(fc.ipV4(), fc.ipV6());
const addresses = fc.record({ clientAddress: address, clientPort: port, localAddress: address, localPort: port });
const version = fc.constantFrom('v1' as const, 'v2' as const);

/** What the receiver should see: each address in its one spelling. */
function canonical(a: ConnectionAddresses): ConnectionAddresses {
  return { ...a, clientAddress: canonicalAddress(a.clientAddress)!, localAddress: canonicalAddress(a.localAddress)! };
}

/** Garbage, and garbage behind each signature (so the deeper states are reached). */
const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b));
const garbage = fc.oneof(
  bytes,
  bytes.map((b) => Buffer.concat([latin1('PROXY '), b])),
  fc.tuple(fc.constantFrom('TCP4 ', 'TCP6 ', 'UNKNOWN'), fc.string({ maxLength: 120 })).map(([p, s]) => latin1(`PROXY ${p}${s}\r\n`)),
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 1200 }), bytes)
    .map(([vc, ft, len, body]) => {
      const header = v2(vc, ft, body);
      header.writeUInt16BE(len, 14);
      return header;
    }),
);

describe('PROXY header properties', () => {
  it('parses what it encodes, v1 and v2, with the addresses in their one spelling', () => {
    fc.assert(
      fc.property(version, addresses, bytes, (v, a, after) => {
        const header = encodeProxyHeader(v, a);
        const result = complete(parseProxyHeader(Buffer.concat([header, after])));
        expect(result.length).toBe(header.length);
        expect(result.header).toEqual({ version: v === 'v1' ? 1 : 2, addresses: canonical(a) });
      }),
    );
  });

  it('encodes "no address" as a header that parses to none (v1 UNKNOWN, v2 LOCAL)', () => {
    for (const v of ['v1', 'v2'] as const) expect(complete(parseProxyHeader(encodeProxyHeader(v, null))).header.addresses).toBeNull();
  });

  it('decides the same on every split: each prefix of a header is partial, the whole one complete', () => {
    fc.assert(
      fc.property(version, fc.option(addresses, { nil: null }), (v, a) => {
        const header = encodeProxyHeader(v, a);
        for (let n = 0; n < header.length; n++) expect(parseProxyHeader(header.subarray(0, n))).toEqual({ kind: 'partial' });
        expect(parseProxyHeader(header).kind).toBe('complete');
      }),
    );
  });

  it('never throws on garbage, and a decision never depends on bytes past it', () => {
    fc.assert(
      fc.property(garbage, bytes, (buf, more) => {
        const result = parseProxyHeader(buf);
        if (result.kind === 'partial') {
          expect(buf.length).toBeLessThan(MAX_HEADER_BYTES);
          return;
        }
        // The same decision with anything else after the header (or after the bytes that decided an error).
        const decided = result.kind === 'complete' ? buf.subarray(0, result.length) : buf;
        expect(parseProxyHeader(Buffer.concat([decided, more]))).toEqual(result);
        if (result.kind === 'complete') expect(result.length).toBeLessThanOrEqual(MAX_HEADER_BYTES);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('client addresses', () => {
  it('spells IPv6 as RFC 5952 does (the URL standard serialises the same way)', () => {
    fc.assert(
      fc.property(fc.ipV6(), (text) => {
        const groups = ipv6Groups(text);
        expect(groups).not.toBeNull();
        expect(formatIPv6(groups!)).toBe(new URL(`http://[${text}]/`).hostname.slice(1, -1));
      }),
    );
  });

  it('counts IPv4 by address, IPv6 by /64, an IPv4-mapped address as IPv4', () => {
    expect(clientKey('192.0.2.7')).toBe('192.0.2.7');
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(clientKey('2001:db8:1:3::1')).toBe('2001:db8:1:3::/64');
    expect(clientKey(canonicalAddress('::ffff:192.0.2.7')!)).toBe('192.0.2.7');
    expect(canonicalAddress('::ffff:c000:207')).toBe('192.0.2.7');
    expect(canonicalAddress('fe80::1%eth0')).toBeNull();
    expect(canonicalAddress('not an address')).toBeNull();
  });
});

// ---- the socket reader -------------------------------------------------------------

describe('readProxyHeader', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    while (cleanups.length) cleanups.pop()!();
  });

  /** A server whose accepted sockets are read with readProxyHeader, then echo what follows the header. */
  async function reader(timeoutMs: number): Promise<{ port: number; results: Promise<{ result: ProxyReadResult; rest: string }> }> {
    let deliver!: (value: { result: ProxyReadResult; rest: string }) => void;
    const results = new Promise<{ result: ProxyReadResult; rest: string }>((resolve) => (deliver = resolve));
    const server = net.createServer({ pauseOnConnect: true }, (socket) => {
      socket.on('error', () => {});
      readProxyHeader(socket, timeoutMs, (result) => {
        if (!result.ok) {
          deliver({ result, rest: '' });
          socket.destroy();
          return;
        }
        let rest = '';
        socket.on('data', (c: Buffer) => (rest += c.toString('latin1')));
        socket.on('end', () => {
          deliver({ result, rest });
          socket.end();
        });
        socket.resume();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => server.close());
    return { port: (server.address() as net.AddressInfo).port, results };
  }

  it('reads a header written one byte per write, and hands on the bytes after it', async () => {
    const { port, results } = await reader(5000);
    const client = net.connect(port, '127.0.0.1');
    client.setNoDelay(true);
    await once(client, 'connect');
    const wire = Buffer.concat([
      encodeProxyHeader('v2', { clientAddress: '2001:db8::7', clientPort: 1234, localAddress: '2001:db8::1', localPort: 443 }),
      latin1('hello'),
    ]);
    for (const byte of wire) {
      client.write(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    client.end();
    const { result, rest } = await within(results, 5000, 'the header');
    expect(result).toEqual({
      ok: true,
      header: { version: 2, addresses: { clientAddress: '2001:db8::7', clientPort: 1234, localAddress: '2001:db8::1', localPort: 443 } },
    });
    expect(rest).toBe('hello');
  });

  it('gives up after the timeout, and on a peer that leaves or sends garbage', async () => {
    const slow = await reader(200);
    const silent = net.connect(slow.port, '127.0.0.1');
    silent.on('error', () => {});
    silent.write('PROXY TCP4 1.2.3');
    expect((await within(slow.results, 5000, 'the timeout')).result).toEqual({ ok: false, code: 'timeout' });
    silent.destroy();

    const gone = await reader(5000);
    const leaver = net.connect(gone.port, '127.0.0.1');
    leaver.end('PROXY ');
    expect((await within(gone.results, 5000, 'the close')).result).toEqual({ ok: false, code: 'closed' });

    const bad = await reader(5000);
    const http = net.connect(bad.port, '127.0.0.1');
    http.on('error', () => {});
    http.write('GET / HTTP/1.1\r\n\r\n');
    expect((await within(bad.results, 5000, 'the refusal')).result).toEqual({ ok: false, code: 'no-signature' });
    http.destroy();
  });
});
