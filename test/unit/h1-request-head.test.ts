// Every rule of parseRequestHead as a table: what it accepts (with the facts it reports)
// and each error code with the shapes that produce it, the smuggling ones of RFC 9112
// §6 and §11 and the classic CL.TE / TE.CL / TE.TE variants among them.
import { describe, expect, it } from 'vitest';
import { H1_ERRORS, type H1ErrorCode } from '../../src/h1/errors.js';
import {
  MF_CHNK,
  MF_CLEN,
  MF_CONN_CLOSE,
  MF_CONN_KEEP_ALIVE,
  MF_EXPECT_CONTINUE,
  MF_TE,
  MF_UPGRADE,
  MF_VER_11,
  wantsKeepAlive,
} from '../../src/h1/head.js';
import { parseRequestHead, type RequestHead } from '../../src/h1/request-head.js';

const H = 'Host: a.example\r\n';

function parse(text: string, limits?: { maxHeadBytes: number; maxHeaders: number }) {
  return parseRequestHead(Buffer.from(text, 'latin1'), 0, limits);
}

function head(text: string): RequestHead {
  const result = parse(text);
  if (result.kind !== 'complete') throw new Error(`expected complete, got ${JSON.stringify(result)}`);
  return result.head;
}

describe('parseRequestHead accepts', () => {
  it('a typical GET: method, target, version, fields as offsets, the end of the head', () => {
    const text = `GET /a?b=c HTTP/1.1\r\nHost: a.example\r\nAccept:  text/html \t\r\nX-Empty:\r\n\r\nBODY`;
    const h = head(text);
    expect(h.method).toBe('GET');
    expect(h.target).toBe('/a?b=c');
    expect(h.targetForm).toBe('origin');
    expect(h.flags).toBe(MF_VER_11);
    expect(h.contentLength).toBe(-1);
    expect(h.end).toBe(text.indexOf('BODY'));
    expect(h.start).toBe(0);
    expect(text.slice(h.start, h.startLineEnd)).toBe('GET /a?b=c HTTP/1.1');
    expect(h.fieldCount).toBe(3);
    expect([h.nameAt(1), h.valueAt(1)]).toEqual(['Accept', 'text/html']);
    expect(h.valueAt(2)).toBe('');
    expect(h.host).toBe('a.example');
    expect(h.get('ACCEPT'.toLowerCase())).toBe('text/html');
    expect(h.get('missing')).toBeUndefined();
    expect(wantsKeepAlive(h.flags)).toBe(true);
  });

  it('re-sends byte for byte from its offsets: start line, then each field line from its name to the next', () => {
    const text = `POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nCookie: a=1\r\n\r\n`;
    const h = head(text);
    const lines = [text.slice(h.start, h.startLineEnd + 2)];
    for (let i = 0; i < h.fieldCount; i++) lines.push(text.slice(h.fields[4 * i], i + 1 < h.fieldCount ? h.fields[4 * i + 4] : h.end - 2));
    expect(lines.join('') + '\r\n').toBe(text);
  });

  it.each([
    ['absolute-form', 'GET http://a.example:8080/p?q HTTP/1.1\r\n' + H + '\r\n', 'absolute', 'http://a.example:8080/p?q'],
    ['absolute-form without a path', 'GET https://a.example HTTP/1.1\r\n' + H + '\r\n', 'absolute', 'https://a.example'],
    ['absolute-form with an IPv6 literal', 'GET http://[::1]:80/ HTTP/1.1\r\n' + H + '\r\n', 'absolute', 'http://[::1]:80/'],
    ['asterisk-form with OPTIONS', 'OPTIONS * HTTP/1.1\r\n' + H + '\r\n', 'asterisk', '*'],
    ['authority-form with CONNECT', 'CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n', 'authority', 'a.example:443'],
    [
      'every visible byte but # in a path',
      'GET /!"$%&\'()*+,-./:;<=>?@[\\]^_`{|}~ HTTP/1.1\r\n' + H + '\r\n',
      'origin',
      '/!"$%&\'()*+,-./:;<=>?@[\\]^_`{|}~',
    ],
  ])('%s', (_name, text, form, target) => {
    const h = head(text);
    expect(h.targetForm).toBe(form);
    expect(h.target).toBe(target);
  });

  it.each([
    ['an extension method (any token)', 'PURGE / HTTP/1.1\r\n' + H + '\r\n', 'PURGE'],
    ['a lower-case method (methods are case-sensitive tokens)', 'get / HTTP/1.1\r\n' + H + '\r\n', 'get'],
    ['common methods as constants', 'HEAD / HTTP/1.1\r\n' + H + '\r\n', 'HEAD'],
    ['POST', 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 0\r\n\r\n', 'POST'],
  ])('%s', (_name, text, method) => {
    expect(head(text).method).toBe(method);
  });

  it('leading empty lines (RFC 9112 §2.2): any number of CRLF pairs, start points at the request line', () => {
    const h = head('\r\n\r\nGET / HTTP/1.1\r\n' + H + '\r\n');
    expect(h.start).toBe(4);
  });

  it('parses from an offset in a buffer that holds earlier bytes', () => {
    const text = 'XXXXGET / HTTP/1.1\r\n' + H + '\r\n';
    const result = parseRequestHead(Buffer.from(text), 4);
    expect(result.kind === 'complete' && result.head.start).toBe(4);
  });

  it('HTTP/1.0 without Host; keep-alive only when asked', () => {
    expect(head('GET / HTTP/1.0\r\n\r\n').flags).toBe(0);
    expect(wantsKeepAlive(head('GET / HTTP/1.0\r\n\r\n').flags)).toBe(false);
    expect(wantsKeepAlive(head('GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n').flags)).toBe(true);
  });

  it.each([
    ['Content-Length', 'Content-Length: 5\r\n', MF_CLEN, 5],
    ['Content-Length with leading zeros', 'Content-Length: 007\r\n', MF_CLEN, 7],
    ['Content-Length: 0', 'Content-Length: 0\r\n', MF_CLEN, 0],
    ['Content-Length 2^53 - 1', 'Content-Length: 9007199254740991\r\n', MF_CLEN, 9007199254740991],
    ['Content-Length twice, agreeing (treated as one)', 'Content-Length: 5\r\nContent-Length: 5\r\n', MF_CLEN, 5],
    ['Content-Length with tabs around', 'Content-Length:\t5\t\r\n', MF_CLEN, 5],
    ['chunked', 'Transfer-Encoding: chunked\r\n', MF_TE | MF_CHNK, -1],
    ['Transfer-Encoding:\\tchunked (OWS is SP or HTAB)', 'Transfer-Encoding:\tchunked\r\n', MF_TE | MF_CHNK, -1],
    ['CHUNKED in capitals', 'transfer-encoding: CHUNKED\r\n', MF_TE | MF_CHNK, -1],
    ['gzip, chunked', 'Transfer-Encoding: gzip, chunked\r\n', MF_TE | MF_CHNK, -1],
    ['gzip then chunked on two lines (one list)', 'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', MF_TE | MF_CHNK, -1],
    ['Connection: close', 'Connection: close\r\n', MF_CONN_CLOSE, -1],
    [
      'Connection tokens in any case, with empty elements',
      'Connection: , Keep-Alive ,\r\nConnection: x-foo,CLOSE\r\n',
      MF_CONN_CLOSE | MF_CONN_KEEP_ALIVE,
      -1,
    ],
    ['Connection: closed is not close', 'Connection: closed\r\n', 0, -1],
    ['an upgrade: Upgrade and the upgrade token', 'Connection: Upgrade\r\nUpgrade: websocket\r\n', MF_UPGRADE, -1],
    ['Upgrade without the Connection token is no upgrade', 'Upgrade: websocket\r\n', 0, -1],
    ['Expect: 100-continue', 'Expect: 100-Continue\r\n', MF_EXPECT_CONTINUE, -1],
    ['another Expect is no 100-continue', 'Expect: 100-continue-x\r\n', 0, -1],
  ])('framing facts: %s', (_name, fields, flags, length) => {
    const h = head('POST / HTTP/1.1\r\n' + H + fields + '\r\n');
    expect(h.flags).toBe(flags | MF_VER_11);
    expect(h.contentLength).toBe(length);
  });

  it('reads lazily: cookie lines joined, connection tokens, upgrade, Host with a port', () => {
    const h = head(
      'GET / HTTP/1.1\r\nHost: [::1]:8443\r\nCookie: a=1\r\nConnection: Upgrade, X-Trace\r\nUpgrade: websocket\r\ncookie: b=2\r\n\r\n',
    );
    expect(h.host).toBe('[::1]:8443');
    expect(h.cookie).toBe('a=1; b=2');
    expect(h.connectionTokens()).toEqual(['upgrade', 'x-trace']);
    expect(h.upgrade).toBe('websocket');
    expect(h.getAll('cookie')).toEqual(['a=1', 'b=2']);
    expect(h.indexOf('cookie', 2)).toBe(4);
    expect(head('GET / HTTP/1.0\r\n\r\n').host).toBe('');
    expect(head('GET / HTTP/1.0\r\n\r\n').cookie).toBeUndefined();
  });

  it('connection tokens skip empty elements; three Hosts report the second', () => {
    expect(head('GET / HTTP/1.1\r\n' + H + 'Connection: , a ,,\tB \r\n\r\n').connectionTokens()).toEqual(['a', 'b']);
    expect(parse('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nHost: c\r\n\r\n')).toMatchObject({ code: 'duplicate-host', pos: 25 });
  });

  it('more than 100 fields when maxHeaders allows, and lookups by many names', () => {
    const fields = Array.from({ length: 300 }, (_, i) => `X-${i}: ${i}\r\n`).join('');
    const result = parse('GET / HTTP/1.1\r\n' + H + fields + '\r\n', { maxHeadBytes: 65536, maxHeaders: 301 });
    if (result.kind !== 'complete') throw new Error(JSON.stringify(result));
    expect(result.head.fieldCount).toBe(301);
    for (let i = 0; i < 300; i++) expect(result.head.get(`x-${i}`)).toBe(String(i));
  });

  it('an empty Host (RFC 9112 §3.2 allows it) and obs-text in values (as latin1)', () => {
    expect(head('GET / HTTP/1.1\r\nHost:\r\n\r\n').host).toBe('');
    expect(head('GET / HTTP/1.1\r\n' + H + 'X: caf\xe9\r\n\r\n').get('x')).toBe('café');
  });

  it('exactly maxHeaders fields and exactly maxHeadBytes bytes', () => {
    const text = 'GET / HTTP/1.1\r\n' + H + 'A: 1\r\n\r\n';
    expect(parse(text, { maxHeadBytes: text.length, maxHeaders: 2 }).kind).toBe('complete');
  });
});

/** [what, head, code, position of the offending byte (-1: not checked)] */
const ERRORS: [string, string, H1ErrorCode, number][] = [
  ['a method with a non-token byte', 'G(ET / HTTP/1.1\r\n' + H + '\r\n', 'bad-method', 1],
  ['an empty method', ' / HTTP/1.1\r\n' + H + '\r\n', 'bad-method', 0],
  ['a tab after the method', 'GET\t/ HTTP/1.1\r\n' + H + '\r\n', 'bad-method', 3],
  ['the PRI method of the HTTP/2 preface over HTTP/1.1', 'PRI / HTTP/1.1\r\n' + H + '\r\n', 'bad-method', 0],
  ['two spaces before the target', 'GET  / HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 4],
  ['a control byte in the target', 'GET /\x01 HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 5],
  ['a DEL in the target', 'GET /\x7f HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 5],
  ['a non-ASCII byte in the target', 'GET /\xe9 HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 5],
  ['a fragment', 'GET /a#b HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 6],
  ['* with GET', 'GET * HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 4],
  ['*x with OPTIONS', 'OPTIONS *x HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 8],
  ['authority-form without CONNECT', 'GET a.example:80 HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 4],
  ['CONNECT to a path', 'CONNECT / HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 8],
  ['CONNECT without a port', 'CONNECT a.example HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 8],
  ['CONNECT with a 6-digit port', 'CONNECT a:443443 HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 8],
  ['CONNECT with userinfo', 'CONNECT u@a:443 HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 8],
  ['absolute-form with userinfo', 'GET http://u@a.example/ HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 4],
  ['absolute-form with an empty authority', 'GET http:///p HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 4],
  ['absolute-form without //', 'GET http:a HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 4],
  ['absolute-form with a digit in the scheme', 'GET h2c://a/ HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 4],
  ['absolute-form with an unclosed IPv6 literal', 'GET http://[::1/ HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 4],
  ['absolute-form with a bad byte after the authority', 'GET http://a.example:80x/ HTTP/1.1\r\n' + H + '\r\n', 'bad-target', 4],
  ['HTTP/0.9 (no version)', 'GET /\r\n\r\n', 'bad-version', 5],
  ['a lower-case version', 'GET / http/1.1\r\n' + H + '\r\n', 'bad-version', 6],
  ['HTTP/1.10', 'GET / HTTP/1.10\r\n' + H + '\r\n', 'bad-version', 14],
  ['HTTP/1', 'GET / HTTP/1\r\n' + H + '\r\n', 'bad-version', 12],
  ['a space after the version', 'GET / HTTP/1.1 \r\n' + H + '\r\n', 'bad-version', 14],
  ['HTTP/1.2', 'GET / HTTP/1.2\r\n' + H + '\r\n', 'unsupported-version', 6],
  ['HTTP/2.0', 'GET / HTTP/2.0\r\n' + H + '\r\n', 'unsupported-version', 6],
  ['the HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'unsupported-version', 6],
  ['a bare LF ending the request line', 'GET / HTTP/1.1\n' + H + '\r\n', 'bare-lf', 14],
  ['a bare LF ending a field line', 'GET / HTTP/1.1\r\n' + 'Host: a\n\r\n', 'bare-lf', 23],
  ['a bare LF ending the head', 'GET / HTTP/1.1\r\n' + H + '\n', 'bare-lf', 33],
  ['only bare LFs', 'GET / HTTP/1.1\nHost: a\n\n', 'bare-lf', 14],
  ['a bare LF before the request line', '\nGET / HTTP/1.1\r\n' + H + '\r\n', 'bare-lf', 0],
  ['a bare CR before the request line', '\rGET / HTTP/1.1\r\n' + H + '\r\n', 'bare-cr', 0],
  ['a bare CR ending the request line', 'GET / HTTP/1.1\rX\r\n' + H + '\r\n', 'bare-cr', 14],
  ['a bare CR in a value', 'GET / HTTP/1.1\r\nX: a\rb\r\n' + H + '\r\n', 'bare-cr', 20],
  ['a bare CR ending the head', 'GET / HTTP/1.1\r\n' + H + '\rX\r\n\r\n', 'bare-cr', 33],
  ['obs-fold', 'GET / HTTP/1.1\r\n' + H + 'X: a\r\n b\r\n\r\n', 'obs-fold', 39],
  ['obs-fold with a tab', 'GET / HTTP/1.1\r\n' + H + 'X: a\r\n\tb\r\n\r\n', 'obs-fold', 39],
  ['whitespace before the first field', 'GET / HTTP/1.1\r\n ' + H + '\r\n', 'obs-fold', 16],
  [
    'Transfer-Encoding : chunked (space before the colon)',
    'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding : chunked\r\n\r\n',
    'bad-field-name',
    51,
  ],
  ['a tab before the colon', 'GET / HTTP/1.1\r\n' + H + 'X\t: a\r\n\r\n', 'bad-field-name', 34],
  ['an empty field name', 'GET / HTTP/1.1\r\n' + H + ': a\r\n\r\n', 'bad-field-name', 33],
  ['a field line without a colon', 'GET / HTTP/1.1\r\n' + H + 'X-Foo\r\n\r\n', 'bad-field-name', 38],
  ['a non-token byte in a name', 'GET / HTTP/1.1\r\n' + H + 'X(y): a\r\n\r\n', 'bad-field-name', 34],
  ['a NUL in a value', 'GET / HTTP/1.1\r\n' + H + 'X: a\x00b\r\n\r\n', 'bad-field-value', 37],
  ['a DEL in a value', 'GET / HTTP/1.1\r\n' + H + 'X: a\x7f\r\n\r\n', 'bad-field-value', 37],
  ['a control byte in a value', 'GET / HTTP/1.1\r\n' + H + 'X: \x1b[31m\r\n\r\n', 'bad-field-value', 36],
  ['no Host in HTTP/1.1', 'GET / HTTP/1.1\r\nX: a\r\n\r\n', 'missing-host', 22],
  ['two Host fields', 'GET / HTTP/1.1\r\n' + H + 'Host: b.example\r\n\r\n', 'duplicate-host', 33],
  ['two Host fields in HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n', 'duplicate-host', 25],
  ['a Host with a path', 'GET / HTTP/1.1\r\nHost: a.example/x\r\n\r\n', 'bad-host', 22],
  ['a Host with userinfo', 'GET / HTTP/1.1\r\nHost: u@a.example\r\n\r\n', 'bad-host', 22],
  ['a Host with a space', 'GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 'bad-host', 22],
  ['a Host with an empty port', 'GET / HTTP/1.1\r\nHost: a:\r\n\r\n', 'bad-host', 22],
  ['a Host that is only a port', 'GET / HTTP/1.1\r\nHost: :80\r\n\r\n', 'bad-host', 22],
  ['Content-Length: +5', 'POST / HTTP/1.1\r\n' + H + 'Content-Length: +5\r\n\r\n', 'bad-content-length', 50],
  ['Content-Length: -1', 'POST / HTTP/1.1\r\n' + H + 'Content-Length: -1\r\n\r\n', 'bad-content-length', 50],
  ['Content-Length: 5, 6', 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 5, 6\r\n\r\n', 'bad-content-length', 51],
  ['Content-Length: 5, 5 (a list, even agreeing)', 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 5, 5\r\n\r\n', 'bad-content-length', 51],
  ['Content-Length: 0x5', 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 0x5\r\n\r\n', 'bad-content-length', 51],
  ['Content-Length: 1 0 (inner space)', 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 1 0\r\n\r\n', 'bad-content-length', 51],
  ['an empty Content-Length', 'POST / HTTP/1.1\r\n' + H + 'Content-Length: \r\n\r\n', 'bad-content-length', 50],
  ['Content-Length past 2^53 - 1', 'POST / HTTP/1.1\r\n' + H + 'Content-Length: 9007199254740992\r\n\r\n', 'bad-content-length', 65],
  [
    'Content-Length: 5 then 6',
    'POST / HTTP/1.1\r\n' + H + 'Content-Length: 5\r\nContent-Length: 6\r\n\r\n',
    'conflicting-content-length',
    53,
  ],
  [
    'CL.TE: Content-Length then Transfer-Encoding',
    'POST / HTTP/1.1\r\n' + H + 'Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n',
    'te-and-cl',
    53,
  ],
  [
    'TE.CL: Transfer-Encoding then Content-Length',
    'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n',
    'te-and-cl',
    62,
  ],
  [
    'Transfer-Encoding: chunked, identity (chunked not last)',
    'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked, identity\r\n\r\n',
    'bad-transfer-encoding',
    34,
  ],
  ['Transfer-Encoding: xchunked', 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: xchunked\r\n\r\n', 'bad-transfer-encoding', 34],
  [
    'Transfer-Encoding: chunked twice on two lines',
    'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n',
    'bad-transfer-encoding',
    34,
  ],
  [
    'Transfer-Encoding: chunked, chunked',
    'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked, chunked\r\n\r\n',
    'bad-transfer-encoding',
    34,
  ],
  [
    'chunked then gzip on two lines',
    'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n',
    'bad-transfer-encoding',
    34,
  ],
  ['Transfer-Encoding: gzip alone', 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: gzip\r\n\r\n', 'bad-transfer-encoding', 34],
  ['Transfer-Encoding: identity', 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: identity\r\n\r\n', 'bad-transfer-encoding', 34],
  ['an empty Transfer-Encoding', 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding:\r\n\r\n', 'bad-transfer-encoding', 52],
  ['an empty coding in the list', 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: gzip,,chunked\r\n\r\n', 'bad-transfer-encoding', 58],
  ['a trailing comma', 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked,\r\n\r\n', 'bad-transfer-encoding', 61],
  ['a parameter on chunked', 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked;q=1\r\n\r\n', 'bad-transfer-encoding', 60],
  ['quoted chunked', 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: "chunked"\r\n\r\n', 'bad-transfer-encoding', 53],
  [
    'a tab after a final chunked (llhttp reads it as not chunked)',
    'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: chunked \t\r\n\r\n',
    'bad-transfer-encoding',
    61,
  ],
  ['chunked with a vertical tab', 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: \x0bchunked\r\n\r\n', 'bad-field-value', 53],
  ['Transfer-Encoding in HTTP/1.0', 'POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n', 'bad-transfer-encoding', 17],
  [
    'an unknown coding before chunked',
    'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: foo, chunked\r\n\r\n',
    'unknown-transfer-coding',
    53,
  ],
  ['identity before chunked', 'POST / HTTP/1.1\r\n' + H + 'Transfer-Encoding: identity, chunked\r\n\r\n', 'unknown-transfer-coding', 53],
  ['CONNECT with a body', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nContent-Length: 5\r\n\r\n', 'connect-with-body', 37],
  ['CONNECT chunked', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\nTransfer-Encoding: chunked\r\n\r\n', 'connect-with-body', 37],
];

describe('parseRequestHead rejects', () => {
  it.each(ERRORS)('%s', (_name, text, code, pos) => {
    const result = parse(text);
    expect(result).toEqual({ kind: 'error', code, pos, status: H1_ERRORS[code].status });
  });

  it('covers every request-side head code in the table', () => {
    const tested = new Set(ERRORS.map((row) => row[2]));
    const headCodes = Object.keys(H1_ERRORS).filter(
      (code) => !/chunk|trailer|status/.test(code) && code !== 'head-too-large' && code !== 'too-many-headers',
    );
    expect(headCodes.filter((code) => !tested.has(code as H1ErrorCode))).toEqual([]);
  });

  it('a head past maxHeadBytes: 431, whether the end is in the buffer or not yet', () => {
    const text = 'GET / HTTP/1.1\r\n' + H + 'X: ' + 'a'.repeat(100) + '\r\n\r\n';
    const limits = { maxHeadBytes: text.length - 1, maxHeaders: 100 };
    expect(parse(text, limits)).toEqual({ kind: 'error', code: 'head-too-large', pos: text.length - 1, status: 431 });
    expect(parse(text.slice(0, -1), limits)).toEqual({ kind: 'error', code: 'head-too-large', pos: text.length - 1, status: 431 });
    expect(parse(text.slice(0, -2), limits)).toEqual({ kind: 'partial' });
  });

  it('leading empty lines count in maxHeadBytes', () => {
    const text = '\r\n'.repeat(10) + 'GET / HTTP/1.1\r\n' + H + '\r\n';
    expect(parse(text, { maxHeadBytes: text.length - 1, maxHeaders: 10 })).toMatchObject({ code: 'head-too-large', status: 431 });
    expect(parse('\r\n'.repeat(40), { maxHeadBytes: 64, maxHeaders: 10 })).toMatchObject({ code: 'head-too-large' });
  });

  it('more than maxHeaders fields: 431 at the first one too many', () => {
    const text = 'GET / HTTP/1.1\r\n' + H + 'A: 1\r\nB: 2\r\n\r\n';
    expect(parse(text, { maxHeadBytes: 1000, maxHeaders: 2 })).toEqual({ kind: 'error', code: 'too-many-headers', pos: 39, status: 431 });
  });

  it('an error before the limit is reported as itself, not as 431', () => {
    const text = 'GET / HTTP/1.1\r\nX: \x00' + 'a'.repeat(200);
    expect(parse(text, { maxHeadBytes: 100, maxHeaders: 10 })).toMatchObject({ code: 'bad-field-value', pos: 19 });
  });
});

describe('parseRequestHead waits', () => {
  it.each([
    ['nothing', ''],
    ['empty lines', '\r\n\r\n'],
    ['a CR', '\r'],
    ['half a request line', 'GET /ind'],
    ['a request line', 'GET / HTTP/1.1\r\n'],
    ['a field without its CRLF', 'GET / HTTP/1.1\r\nHost: a'],
    ['the head without its last LF', 'GET / HTTP/1.1\r\nHost: a\r\n\r'],
    ['the head without its last CRLF', 'GET / HTTP/1.1\r\nHost: a\r\n'],
    ['a field name', 'GET / HTTP/1.1\r\nHost: a\r\n\r\nX'.slice(0, -3) + 'X-Fo'],
  ])('on %s', (_name, text) => {
    expect(parse(text)).toBe(parse('')); // the one H1_PARTIAL object
    expect(parse(text).kind).toBe('partial');
  });

  it('past an empty line seen by the quick end test, the full scan still says partial', () => {
    expect(parse('\r\n\r\nGET / HTTP/1.1\r\nHo').kind).toBe('partial');
    expect(parse('GET / HTTP/1.1\r\n\r').kind).toBe('partial');
    expect(parse('GET / HTTP/1.1\r\nA: b\r\n\r').kind).toBe('partial');
  });
});
