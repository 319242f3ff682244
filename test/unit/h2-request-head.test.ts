// The HTTP/1.1 head made from an HTTP/2 request: what is refused and how the fields are carried.
import { describe, expect, it } from 'vitest';
import { LbError } from '../../src/errors.js';
import { requestHeadOfStream } from '../../src/h2/stream-front.js';

const pseudo = { ':method': 'GET', ':path': '/p?q', ':scheme': 'https', ':authority': 'shop.example' };
const rawPseudo = [':method', 'GET', ':path', '/p?q', ':scheme', 'https', ':authority', 'shop.example'];

function head(extra: string[], headers: Record<string, string> = pseudo) {
  return requestHeadOfStream(headers, [...rawPseudo, ...extra], false, {
    clientAddress: '192.0.2.1',
    clientPort: 5000,
    localAddress: '192.0.2.9',
    localPort: 443,
  });
}

describe('requestHeadOfStream', () => {
  it('adds Host from :authority, joins split cookies and leaves pseudo-headers out', () => {
    const h = head(['cookie', 'a=1', 'accept', '*/*', 'cookie', 'b=2']);
    if (h instanceof LbError) throw h;
    expect(h.headers).toEqual(['host', 'shop.example', 'accept', '*/*', 'cookie', 'a=1; b=2']);
    expect([h.method, h.target, h.host, h.cookie, h.httpVersion]).toEqual(['GET', '/p?q', 'shop.example', 'a=1; b=2', '2.0']);
  });

  it.each([
    ['a Host that disagrees with :authority', ['host', 'other.example'], ':authority and host disagree'],
    ['two Host fields', ['host', 'shop.example', 'host', 'shop.example'], 'duplicate host header'],
    ['a connection-specific field', ['connection', 'close'], 'connection-specific header connection'],
    ['te other than trailers', ['te', 'gzip'], 'connection-specific header te'],
    ['CR LF in a value', ['x-a', 'v\r\nInjected: 1'], 'malformed value of x-a'],
    ['NUL in a value', ['x-a', 'v\u0000'], 'malformed value of x-a'],
    ['whitespace around a value', ['x-a', ' v'], 'malformed value of x-a'],
  ])('refuses %s', (_what, extra, message) => {
    const h = head(extra);
    expect(h).toBeInstanceOf(LbError);
    expect((h as LbError).code).toBe('LB_ERR_BAD_REQUEST');
    expect((h as LbError).message).toBe(message);
  });

  it('keeps te: trailers (gRPC needs it) and refuses CONNECT and a target that is not a path', () => {
    const h = head(['te', 'trailers']);
    expect(h instanceof LbError ? h.message : h.headers).toContain('trailers');
    expect((requestHeadOfStream({ ...pseudo, ':method': 'CONNECT' }, rawPseudo, false, '', 0) as LbError).message).toBe(
      'CONNECT is not proxied',
    );
    expect((requestHeadOfStream({ ...pseudo, ':path': '*' }, rawPseudo, false, '', 0) as LbError).message).toBe(
      'request target must be a path',
    );
    expect((requestHeadOfStream({ ...pseudo, ':path': '/a b' }, rawPseudo, false, '', 0) as LbError).message).toBe(
      'malformed pseudo-header',
    );
  });
});
