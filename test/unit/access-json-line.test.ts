// The hand-written JSON access line against pino's own: for any record, the same object
// with the same keys in the same order, and always valid JSON.
import { Writable } from 'node:stream';
import fc from 'fast-check';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { ACCESS_FIELDS, jsonAccessLine } from '../../src/access-log/json-line.js';
import type { AccessRecord } from '../../src/exchange/access-record.js';

/** pino's line for the record, as the access log used to write it. */
function pinoLine(record: AccessRecord, timeMs: number): string {
  let out = '';
  const sink = new Writable({
    decodeStrings: false,
    write(chunk: string, _enc, done) {
      out += chunk;
      done();
    },
  });
  const logger = pino({ base: { pid: process.pid }, timestamp: () => `,"time":${timeMs}` }, sink);
  logger.info(record, 'access');
  return out.trimEnd();
}

// Any string, including quotes, backslashes, controls, lone surrogates and non-ASCII.
const text = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('', '"', '\\', '\u0000', '\ud800', 'é/ü?x="y"'));
const time = fc.oneof(fc.double({ noNaN: false }), fc.constant(-1), fc.integer());

const records: fc.Arbitrary<AccessRecord> = fc.record(
  {
    reqId: text,
    frontend: text,
    route: text,
    backend: text,
    server: text,
    clientAddress: text,
    clientPort: fc.integer({ min: 0, max: 65535 }),
    method: text,
    path: text,
    httpVersion: fc.constantFrom('1.0', '1.1', '2.0'),
    status: fc.integer({ min: 0, max: 599 }),
    bytesOut: fc.nat(),
    bytesIn: fc.nat(),
    queueMs: time,
    connectMs: time,
    responseMs: time,
    totalMs: time,
    serverQueueAhead: fc.nat(),
    backendQueueAhead: fc.nat(),
    termination: fc.constantFrom<AccessRecord['termination']>('normal', 'client-aborted', 'server-timeout', 'no-route'),
    retries: fc.nat({ max: 10 }),
    redispatched: fc.boolean(),
    cookieIn: fc.constantFrom('N', 'I', 'D', 'V', 'E', '-'),
    cookieOut: fc.constantFrom('N', 'I', 'U', '-'),
    error: fc.option(text, { nil: undefined }),
  },
  { requiredKeys: ACCESS_FIELDS.filter((k) => k !== 'error') },
);

describe('JSON access line', () => {
  // Byte equality except for lone surrogates: pino writes them raw (invalid UTF-8 once
  // encoded), JSON.stringify escapes them, and so do we.
  it('reads back as the line pino writes: same values, same keys in the same order', () => {
    fc.assert(
      fc.property(records, fc.nat(), (record, timeMs) => {
        const ours = JSON.parse(jsonAccessLine(record, process.pid, timeMs)) as object;
        const theirs = JSON.parse(pinoLine(record, timeMs)) as object;
        expect(ours).toStrictEqual(theirs);
        expect(Object.keys(ours)).toEqual(Object.keys(theirs));
      }),
      { numRuns: 500, seed: 1204 },
    );
  });

  it('carries every field of the record, in order, then msg', () => {
    const line = jsonAccessLine(
      {
        reqId: 'r1',
        frontend: 'https',
        route: '',
        backend: 'web',
        server: 'web1',
        clientAddress: '127.0.0.1',
        clientPort: 5000,
        method: 'GET',
        path: '/a?b="c"',
        httpVersion: '1.1',
        status: 200,
        bytesOut: 10,
        bytesIn: 0,
        queueMs: 0,
        connectMs: 0.25,
        responseMs: 1.5,
        totalMs: 2,
        serverQueueAhead: 0,
        backendQueueAhead: 0,
        termination: 'normal',
        retries: 0,
        redispatched: false,
        cookieIn: 'N',
        cookieOut: 'I',
        error: 'x',
      },
      7,
      1000,
    );
    const parsed = JSON.parse(line) as Record<string, unknown>;
    expect(Object.keys(parsed)).toEqual(['level', 'time', 'pid', ...ACCESS_FIELDS, 'msg']);
    expect(parsed).toMatchObject({ level: 30, time: 1000, pid: 7, path: '/a?b="c"', msg: 'access' });
  });
});
