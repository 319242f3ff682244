// buildRequestHead: one buffer per request, the client's Content-Length kept, chunked
// chosen for a body without one, Host added when missing, unsendable heads refused.
import { describe, expect, it } from 'vitest';
import { buildRequestHead, type UpstreamRequestHead } from '../../src/upstream/h1-request-head.js';

function built(...args: Parameters<typeof buildRequestHead>): { text: string; framing: string; contentLength: number } {
  const head = buildRequestHead(...args) as UpstreamRequestHead;
  return { text: head.bytes.toString('latin1'), framing: head.framing, contentLength: head.contentLength };
}

describe('buildRequestHead', () => {
  it.each([
    [
      'no body',
      ['GET', '/a?b', ['Host', 'x', 'Accept', '*/*'], false, null, 'h:1'],
      'GET /a?b HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n',
      'none',
      -1,
    ],
    [
      'a body with Content-Length',
      ['POST', '/', ['host', 'x', 'Content-Length', '5'], true, null, 'h:1'],
      'POST / HTTP/1.1\r\nhost: x\r\nContent-Length: 5\r\n\r\n',
      'length',
      5,
    ],
    [
      'a body without: chunked',
      ['POST', '/', ['host', 'x'], true, null, 'h:1'],
      'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n',
      'chunked',
      -1,
    ],
    [
      'a stray Transfer-Encoding dropped',
      ['POST', '/', ['host', 'x', 'Transfer-Encoding', 'gzip'], true, null, 'h:1'],
      'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n',
      'chunked',
      -1,
    ],
    [
      'Content-Length: 0',
      ['POST', '/', ['host', 'x', 'content-length', '0'], false, null, 'h:1'],
      'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n',
      'none',
      -1,
    ],
    [
      'no Host: the server address',
      ['GET', '/', [], false, null, '10.0.0.1:8080'],
      'GET / HTTP/1.1\r\nhost: 10.0.0.1:8080\r\n\r\n',
      'none',
      -1,
    ],
    [
      'an upgrade',
      ['GET', '/ws', ['host', 'x'], false, 'websocket', 'h:1'],
      'GET /ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n',
      'none',
      -1,
    ],
  ] as const)('%s', (_name, args, text, framing, contentLength) => {
    expect(built(...(args as unknown as Parameters<typeof buildRequestHead>))).toEqual({ text, framing, contentLength });
  });

  it.each([
    ['a method with a space', ['GE T', '/', [], false, null, 'h'], 'invalid method'],
    ['a target with a space', ['GET', '/a b', [], false, null, 'h'], 'invalid request target'],
    ['a name with a colon', ['GET', '/', ['a:b', 'v'], false, null, 'h'], 'invalid header name'],
    ['a value with CRLF', ['GET', '/', ['a', 'v\r\nx: y'], false, null, 'h'], 'invalid value of header a'],
    [
      'conflicting Content-Length',
      ['POST', '/', ['content-length', '1', 'content-length', '2'], true, null, 'h'],
      'invalid content-length',
    ],
  ] as const)('refuses %s', (_name, args, reason) => {
    expect(buildRequestHead(...(args as unknown as Parameters<typeof buildRequestHead>))).toBe(reason);
  });
});
