// The httplog formatter: a table of access records and the exact line HAProxy would
// have written for the same request; every line must also parse with the regex of
// HAProxy's documented format, as real HAProxy 2.6 lines do.
import { describe, expect, it } from 'vitest';
import type { AccessRecord } from '../../src/exchange/access-record.js';
import { createHttplogFormatter, type HttplogContext } from '../../src/access-log/httplog.js';
import { parseHttplog } from '../helpers/httplog.js';

/** A 200 through a cookie backend on the TLS frontend; each case changes what it needs. */
const BASE: AccessRecord = {
  reqId: 'x-1',
  frontend: 'https',
  backend: 'web',
  server: 'web1',
  clientAddress: '127.0.0.1',
  clientPort: 53264,
  method: 'GET',
  path: '/',
  httpVersion: '1.1',
  status: 200,
  bytesOut: 120,
  bytesIn: 0,
  queueMs: 0,
  connectMs: 1.4,
  responseMs: 2.9,
  totalMs: 3.2,
  serverQueueAhead: 0,
  backendQueueAhead: 0,
  termination: 'normal',
  retries: 0,
  redispatched: false,
  cookieIn: 'N',
  cookieOut: 'I',
};

/** Local time, as HAProxy prints it: the expected text does not depend on the machine's zone. */
const STARTED = new Date(2026, 11, 3, 3, 10, 23, 914).getTime();
const CONTEXT: HttplogContext = { startedAtMs: STARTED, tls: true, actconn: 1, feconn: 1, beconn: 0, srvConn: 0 };
const PREFIX = '127.0.0.1:53264 [03/Dec/2026:03:10:23.914]';

const CASES: Array<[string, Partial<AccessRecord>, Partial<HttplogContext>, string]> = [
  ['200, cookie inserted', {}, {}, `${PREFIX} https~ web/web1 0/0/1/2/3 200 120 - - --NI 1/1/0/0/0 0/0 "GET / HTTP/1.1"`],
  [
    '200 to the cookie holder, plain frontend, HTTP/1.0, query kept',
    { frontend: 'http', path: '/a?b=c', httpVersion: '1.0', cookieIn: 'V', cookieOut: 'N' },
    { tls: false, actconn: 3, feconn: 2, beconn: 1, srvConn: 1 },
    `${PREFIX} http web/web1 0/0/1/2/3 200 120 - - --VN 3/2/1/1/0 0/0 "GET /a?b=c HTTP/1.0"`,
  ],
  [
    '502: connection refused, no retry, backend without cookie',
    { status: 502, bytesOut: 0, connectMs: -1, responseMs: -1, totalMs: 4, termination: 'connect-error', cookieIn: '-', cookieOut: '-' },
    {},
    `${PREFIX} https~ web/web1 0/0/-1/-1/4 502 0 - - SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"`,
  ],
  [
    '502: the server answered garbage',
    { status: 502, bytesOut: 0, responseMs: -1, termination: 'bad-response', cookieOut: 'N' },
    {},
    `${PREFIX} https~ web/web1 0/0/1/-1/3 502 0 - - PHNN 1/1/0/0/0 0/0 "GET / HTTP/1.1"`,
  ],
  [
    '503: queue timeout while pinned to a full server',
    {
      server: '',
      status: 503,
      bytesOut: 0,
      queueMs: 501.7,
      connectMs: -1,
      responseMs: -1,
      totalMs: 501.9,
      termination: 'queue-timeout',
      serverQueueAhead: 1,
      cookieIn: 'V',
      cookieOut: 'N',
      path: '/queued',
    },
    { actconn: 2, feconn: 2, beconn: 1 },
    `${PREFIX} https~ web/<NOSRV> 0/501/-1/-1/501 503 0 - - sQVN 2/2/1/0/0 1/0 "GET /queued HTTP/1.1"`,
  ],
  [
    '503: every server down, cookie names a down one',
    {
      server: '',
      status: 503,
      bytesOut: 0,
      queueMs: -1,
      connectMs: -1,
      responseMs: -1,
      totalMs: 0.2,
      termination: 'no-server',
      cookieIn: 'D',
      cookieOut: 'N',
    },
    {},
    `${PREFIX} https~ web/<NOSRV> 0/-1/-1/-1/0 503 0 - - SCDN 1/1/0/0/0 0/0 "GET / HTTP/1.1"`,
  ],
  [
    'client gone while the server thinks: no status',
    { status: 0, bytesOut: 0, responseMs: -1, totalMs: 302, termination: 'client-aborted', cookieIn: 'V', cookieOut: 'N', path: '/slow' },
    {},
    `${PREFIX} https~ web/web1 0/0/1/-1/302 -1 0 - - CHVN 1/1/0/0/0 0/0 "GET /slow HTTP/1.1"`,
  ],
  [
    'client gone while queued',
    {
      server: '',
      status: 0,
      bytesOut: 0,
      queueMs: 202,
      connectMs: -1,
      responseMs: -1,
      totalMs: 202,
      termination: 'client-aborted',
      serverQueueAhead: 1,
      cookieIn: 'V',
      cookieOut: 'N',
    },
    { actconn: 2, feconn: 2, beconn: 1 },
    `${PREFIX} https~ web/<NOSRV> 0/202/-1/-1/202 -1 0 - - CQVN 2/2/1/0/0 1/0 "GET / HTTP/1.1"`,
  ],
  [
    'client gone during the body',
    { bytesOut: 65536, totalMs: 40, termination: 'client-aborted', cookieOut: 'N' },
    {},
    `${PREFIX} https~ web/web1 0/0/1/2/40 200 65536 - - CDNN 1/1/0/0/0 0/0 "GET / HTTP/1.1"`,
  ],
  [
    'retried twice and redispatched: the cookie named the failed server, a new one is set',
    { retries: 2, redispatched: true, queueMs: 0, totalMs: 1003, cookieIn: 'V', cookieOut: 'I', path: '/redisp' },
    {},
    `${PREFIX} https~ web/web1 0/0/1/2/1003 200 120 - - --VI 1/1/0/0/+2 0/0 "GET /redisp HTTP/1.1"`,
  ],
  [
    'retried on the same server (redispatch off)',
    { retries: 1, cookieIn: 'N', cookieOut: 'I' },
    {},
    `${PREFIX} https~ web/web1 0/0/1/2/3 200 120 - - --NI 1/1/0/0/1 0/0 "GET / HTTP/1.1"`,
  ],
  [
    '504: the server stayed silent',
    { status: 504, bytesOut: 0, responseMs: -1, totalMs: 1001, termination: 'server-timeout', cookieOut: 'N' },
    {},
    `${PREFIX} https~ web/web1 0/0/1/-1/1001 504 0 - - sHNN 1/1/0/0/0 0/0 "GET / HTTP/1.1"`,
  ],
  [
    'connect timeout',
    { status: 504, bytesOut: 0, connectMs: -1, responseMs: -1, totalMs: 5000, termination: 'connect-timeout', cookieOut: 'N' },
    {},
    `${PREFIX} https~ web/web1 0/0/-1/-1/5000 504 0 - - sCNN 1/1/0/0/0 0/0 "GET / HTTP/1.1"`,
  ],
  [
    'server closed the connection mid-body',
    { bytesOut: 1000, totalMs: 9, termination: 'server-aborted', cookieOut: 'N' },
    {},
    `${PREFIX} https~ web/web1 0/0/1/2/9 200 1000 - - SDNN 1/1/0/0/0 0/0 "GET / HTTP/1.1"`,
  ],
  [
    'server reset before answering',
    { status: 502, bytesOut: 0, responseMs: -1, termination: 'server-error', cookieOut: 'N' },
    {},
    `${PREFIX} https~ web/web1 0/0/1/-1/3 502 0 - - SHNN 1/1/0/0/0 0/0 "GET / HTTP/1.1"`,
  ],
  [
    'redirect answered by a plain frontend',
    {
      frontend: 'http',
      backend: '',
      server: '',
      status: 308,
      bytesOut: 0,
      queueMs: -1,
      connectMs: -1,
      responseMs: -1,
      totalMs: 0,
      termination: 'redirect',
      cookieIn: '-',
      cookieOut: '-',
    },
    { tls: false },
    `${PREFIX} http http/<NOSRV> 0/-1/-1/-1/0 308 0 - - LR-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"`,
  ],
  [
    'malformed request refused by the proxy',
    {
      server: '',
      status: 400,
      bytesOut: 0,
      queueMs: -1,
      connectMs: -1,
      responseMs: -1,
      totalMs: 0,
      termination: 'bad-request',
      cookieIn: '-',
      cookieOut: '-',
    },
    {},
    `${PREFIX} https~ web/<NOSRV> 0/-1/-1/-1/0 400 0 - - PR-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"`,
  ],
  [
    'quote, hash and control bytes in the target are #-encoded; IPv6 client',
    { path: '/a"b#c\x7fd\x01', clientAddress: '::1', clientPort: 41000 },
    {},
    `::1:41000 [03/Dec/2026:03:10:23.914] https~ web/web1 0/0/1/2/3 200 120 - - --NI 1/1/0/0/0 0/0 "GET /a#22b#23c#7Fd#01 HTTP/1.1"`,
  ],
];

describe('httplog line', () => {
  it.each(CASES)('%s', (_name, change, context, expected) => {
    const format = createHttplogFormatter();
    const line = format({ ...BASE, ...change }, { ...CONTEXT, ...context });
    expect(line).toBe(expected);
    expect(parseHttplog(line)).not.toBeNull();
  });

  it('prints the request date in local time, padded, and keeps up as seconds pass', () => {
    const format = createHttplogFormatter();
    const at = (ms: number) => format(BASE, { ...CONTEXT, startedAtMs: ms }).split(' ')[1];
    const early = new Date(2026, 0, 5, 4, 3, 2, 7).getTime();
    expect(at(early)).toBe('[05/Jan/2026:04:03:02.007]');
    expect(at(early + 990)).toBe('[05/Jan/2026:04:03:02.997]');
    expect(at(early + 993)).toBe('[05/Jan/2026:04:03:03.000]');
    expect(at(new Date(2027, 11, 31, 23, 59, 59, 999).getTime())).toBe('[31/Dec/2027:23:59:59.999]');
  });

  it('the parser regex accepts lines real HAProxy 2.6 wrote', () => {
    // From haproxy 2.6.12 with `option httplog` and `log stdout format raw`.
    for (const line of [
      '127.0.0.1:53264 [03/Dec/2026:03:10:23.914] web web/web1 0/1002/0/1/1003 200 120 - - --DI 1/1/0/0/+2 0/0 "GET /redisp HTTP/1.1"',
      '127.0.0.1:55722 [03/Dec/2026:03:10:42.175] web web/web1 0/501/-1/-1/501 503 217 - - sQVN 2/2/1/1/0 1/0 "GET /queued HTTP/1.1"',
      '127.0.0.1:52758 [03/Dec/2026:03:11:56.417] web3 alldown/<NOSRV> 0/-1/-1/-1/0 503 217 - - SCNN 1/1/0/0/0 0/0 "GET /nosrv HTTP/1.1"',
      '127.0.0.1:44976 [03/Dec/2026:03:12:14.427] tlsfe~ web/web1 0/0/0/1/1 200 120 - - --NI 1/1/0/0/0 0/0 "GET /tls HTTP/1.1"',
    ]) {
      expect(parseHttplog(line), line).not.toBeNull();
    }
    expect(parseHttplog('127.0.0.1:44976 [03/Dec/2026:03:12:14.427] tlsfe~ web/web1 0/0/0/1/1 200 120 - - --NI')).toBeNull();
  });
});
