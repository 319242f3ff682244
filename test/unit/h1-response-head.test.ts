// parseResponseHead's rules as tables, and bodyKind's one decision after a head.
import { describe, expect, it } from 'vitest';
import { bodyKind } from '../../src/h1/body-kind.js';
import type { H1ErrorCode } from '../../src/h1/errors.js';
import { MF_CHNK, MF_CLEN, MF_CONN_CLOSE, MF_TE, MF_UPGRADE, MF_VER_11, wantsKeepAlive } from '../../src/h1/head.js';
import { parseRequestHead } from '../../src/h1/request-head.js';
import { parseResponseHead, type ResponseHead } from '../../src/h1/response-head.js';

function parse(text: string) {
  return parseResponseHead(Buffer.from(text, 'latin1'), 0);
}

function head(text: string): ResponseHead {
  const result = parse(text);
  if (result.kind !== 'complete') throw new Error(`expected complete, got ${JSON.stringify(result)}`);
  return result.head;
}

describe('parseResponseHead accepts', () => {
  it('a typical 200: status, reason, fields, the end of the head', () => {
    const text = 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 12\r\n\r\nhello world!';
    const h = head(text);
    expect(h.status).toBe(200);
    expect(h.reason).toBe('OK');
    expect(h.flags).toBe(MF_VER_11 | MF_CLEN);
    expect(h.contentLength).toBe(12);
    expect(h.end).toBe(text.indexOf('hello'));
    expect(h.get('content-type')).toBe('text/html');
    expect(h.informational).toBe(false);
  });

  it.each([
    ['no reason, no space', 'HTTP/1.1 204\r\n\r\n', 204, ''],
    ['an empty reason after the space', 'HTTP/1.1 304 \r\n\r\n', 304, ''],
    ['a reason with spaces, tabs and obs-text', 'HTTP/1.0 404 Not\tFound \xe9\r\n\r\n', 404, 'Not\tFound é'],
    ['599', 'HTTP/1.1 599 X\r\n\r\n', 599, 'X'],
    ['after empty lines', '\r\nHTTP/1.1 100 Continue\r\n\r\n', 100, 'Continue'],
  ])('%s', (_name, text, status, reason) => {
    const h = head(text);
    expect([h.status, h.reason]).toEqual([status, reason]);
  });

  it('1xx other than 101 are informational; 101 with an upgrade is not', () => {
    expect(head('HTTP/1.1 100 Continue\r\n\r\n').informational).toBe(true);
    expect(head('HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n').informational).toBe(true);
    const switching = head('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect(switching.informational).toBe(false);
    expect(switching.flags & MF_UPGRADE).toBe(MF_UPGRADE);
  });

  it.each([
    ['chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', MF_VER_11 | MF_TE | MF_CHNK],
    ['gzip, chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', MF_VER_11 | MF_TE | MF_CHNK],
    ['chunked not last: read until close', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n', MF_VER_11 | MF_TE],
    ['an unknown coding alone: read until close', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: foo\r\n\r\n', MF_VER_11 | MF_TE],
    ['chunked in HTTP/1.0: faulty framing, read until close', 'HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', MF_TE],
    ['Content-Length twice, agreeing', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n', MF_VER_11 | MF_CLEN],
    ['Connection: close', 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n', MF_VER_11 | MF_CONN_CLOSE],
  ])('framing facts: %s', (_name, text, flags) => {
    expect(head(text).flags).toBe(flags);
  });

  it('has no Host rules', () => {
    expect(head('HTTP/1.1 200 OK\r\nHost: a\r\nHost: b/c\r\n\r\n').fieldCount).toBe(2);
  });

  it('waits for the rest', () => {
    for (const text of ['', 'HTTP/1.1 2', 'HTTP/1.1 200 OK\r\n', 'HTTP/1.1 200 OK\r\nA: b\r\n\r']) expect(parse(text).kind).toBe('partial');
  });
});

const ERRORS: [string, string, H1ErrorCode, number][] = [
  ['not HTTP', 'HTTX/1.1 200 OK\r\n\r\n', 'bad-version', 3],
  ['a bare LF before the status line', '\nHTTP/1.1 200 OK\r\n\r\n', 'bare-lf', 0],
  ['HTTP/2.0', 'HTTP/2.0 200 OK\r\n\r\n', 'unsupported-version', 0],
  ['HTTP/1.2', 'HTTP/1.2 200 OK\r\n\r\n', 'unsupported-version', 0],
  ['a two-digit status', 'HTTP/1.1 20 OK\r\n\r\n', 'bad-status', 11],
  ['a four-digit status', 'HTTP/1.1 2000 OK\r\n\r\n', 'bad-status', 12],
  ['two spaces before the status', 'HTTP/1.1  200 OK\r\n\r\n', 'bad-status', 9],
  ['status 099', 'HTTP/1.1 099 X\r\n\r\n', 'bad-status', 9],
  ['status 600', 'HTTP/1.1 600 X\r\n\r\n', 'bad-status', 9],
  ['a NUL in the reason', 'HTTP/1.1 200 O\x00K\r\n\r\n', 'bad-status', 14],
  ['a bare LF after the status', 'HTTP/1.1 200\n\r\n', 'bare-lf', 12],
  ['a bare LF after the reason', 'HTTP/1.1 200 OK\n\r\n', 'bare-lf', 15],
  ['a bare CR after the reason', 'HTTP/1.1 200 OK\rX\r\n\r\n', 'bare-cr', 15],
  ['obs-fold', 'HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n', 'obs-fold', 23],
  ['space before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 1\r\n\r\n', 'bad-field-name', 31],
  ['a NUL in a value', 'HTTP/1.1 200 OK\r\nX: \x00\r\n\r\n', 'bad-field-value', 20],
  ['Content-Length: 5 then 6', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n', 'conflicting-content-length', 36],
  ['Content-Length: 5, 6', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n', 'bad-content-length', 34],
  ['Transfer-Encoding with Content-Length', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n', 'te-and-cl', 45],
  ['chunked twice', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n', 'bad-transfer-encoding', 17],
  [
    'a tab after a final chunked (llhttp clients read until close)',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip,\tchunked\t\r\n\r\n',
    'bad-transfer-encoding',
    49,
  ],
  ['an empty coding', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: ,chunked\r\n\r\n', 'bad-transfer-encoding', 36],
];

describe('parseResponseHead rejects (the proxy answers 502)', () => {
  it.each(ERRORS)('%s', (_name, text, code, pos) => {
    expect(parse(text)).toEqual({ kind: 'error', code, pos, status: 502 });
  });

  it('a head past maxHeadBytes', () => {
    const text = 'HTTP/1.1 200 OK\r\nX: ' + 'a'.repeat(100) + '\r\n\r\n';
    expect(parseResponseHead(Buffer.from(text), 0, { maxHeadBytes: 64, maxHeaders: 10 })).toEqual({
      kind: 'error',
      code: 'head-too-large',
      pos: 64,
      status: 502,
    });
  });
});

describe('bodyKind', () => {
  const request = (fields: string) => {
    const result = parseRequestHead(Buffer.from(`POST / HTTP/1.1\r\nHost: a\r\n${fields}\r\n`), 0);
    if (result.kind !== 'complete') throw new Error(JSON.stringify(result));
    return result.head;
  };

  it.each([
    ['no framing field: none', '', 'none'],
    ['Content-Length: 0: none', 'Content-Length: 0\r\n', 'none'],
    ['Content-Length: 5: length', 'Content-Length: 5\r\n', 'length'],
    ['chunked', 'Transfer-Encoding: chunked\r\n', 'chunked'],
  ])('of a request with %s', (_name, fields, kind) => {
    expect(bodyKind(request(fields))).toBe(kind);
  });

  it.each([
    ['HEAD', 200, 'Content-Length: 5\r\n', 'none'],
    ['GET', 100, '', 'none'],
    ['GET', 103, '', 'none'],
    ['GET', 204, 'Content-Length: 5\r\n', 'none'],
    ['GET', 304, 'Transfer-Encoding: chunked\r\n', 'none'],
    ['GET', 101, 'Connection: upgrade\r\nUpgrade: websocket\r\n', 'tunnel'],
    ['CONNECT', 200, '', 'tunnel'],
    ['CONNECT', 299, 'Content-Length: 5\r\n', 'tunnel'],
    ['CONNECT', 407, 'Content-Length: 5\r\n', 'length'],
    ['GET', 200, 'Transfer-Encoding: chunked\r\n', 'chunked'],
    ['GET', 200, 'Transfer-Encoding: gzip\r\n', 'until-close'],
    ['GET', 200, 'Content-Length: 5\r\n', 'length'],
    ['GET', 200, 'Content-Length: 0\r\n', 'none'],
    ['GET', 200, '', 'until-close'],
    ['POST', 500, 'Connection: close\r\n', 'until-close'],
  ])('of a response to %s with status %i and %j', (method, status, fields, kind) => {
    const result = parse(`HTTP/1.1 ${status} X\r\n${fields}\r\n`);
    if (result.kind !== 'complete') throw new Error(JSON.stringify(result));
    expect(bodyKind(result.head, { status: result.head.status, requestMethod: method })).toBe(kind);
  });

  it('keep-alive per side: a response without close keeps it, HTTP/1.0 needs keep-alive', () => {
    expect(wantsKeepAlive(head('HTTP/1.1 200 OK\r\n\r\n').flags)).toBe(true);
    expect(wantsKeepAlive(head('HTTP/1.0 200 OK\r\n\r\n').flags)).toBe(false);
    expect(wantsKeepAlive(head('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n').flags)).toBe(true);
  });
});
