// The JSON access line, written by hand: the same line pino would print for
// `logger.info(record, 'access')` (level, time, pid, the record's fields, msg), at a
// fraction of the cost. The record's shape is fixed, so there is nothing generic to
// walk: each field is appended in order, and only strings that need it are escaped.
import type { AccessRecord } from '../exchange/access-record.js';

/** pino's number for `info`. */
const INFO = 30;

/** Characters JSON.stringify would escape: quote, backslash, controls, lone surrogates. */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function str(value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/** As JSON.stringify writes a number: NaN and infinities become null. */
function num(value: number): string {
  return Number.isFinite(value) ? `${value}` : 'null';
}

/** Every field of the record, in the order the line carries them (tsc fails here when the record grows a field this file does not write). */
export const ACCESS_FIELDS = [
  'reqId',
  'frontend',
  'route',
  'backend',
  'server',
  'clientAddress',
  'clientPort',
  'method',
  'path',
  'httpVersion',
  'status',
  'bytesOut',
  'bytesIn',
  'queueMs',
  'connectMs',
  'responseMs',
  'totalMs',
  'serverQueueAhead',
  'backendQueueAhead',
  'termination',
  'retries',
  'redispatched',
  'cookieIn',
  'cookieOut',
  'error',
] as const satisfies readonly (keyof AccessRecord)[];
const _everyField: Exclude<keyof AccessRecord, (typeof ACCESS_FIELDS)[number]> extends never ? true : never = true;

/** One access line (without the newline) for `record`, logged at `timeMs` by process `pid`. */
export function jsonAccessLine(r: AccessRecord, pid: number, timeMs: number): string {
  return (
    `{"level":${INFO},"time":${timeMs},"pid":${pid}` +
    `,"reqId":${str(r.reqId)},"frontend":${str(r.frontend)},"route":${str(r.route)}` +
    `,"backend":${str(r.backend)},"server":${str(r.server)}` +
    `,"clientAddress":${str(r.clientAddress)},"clientPort":${num(r.clientPort)}` +
    `,"method":${str(r.method)},"path":${str(r.path)},"httpVersion":${str(r.httpVersion)}` +
    `,"status":${num(r.status)},"bytesOut":${num(r.bytesOut)},"bytesIn":${num(r.bytesIn)}` +
    `,"queueMs":${num(r.queueMs)},"connectMs":${num(r.connectMs)},"responseMs":${num(r.responseMs)},"totalMs":${num(r.totalMs)}` +
    `,"serverQueueAhead":${num(r.serverQueueAhead)},"backendQueueAhead":${num(r.backendQueueAhead)}` +
    `,"termination":${str(r.termination)},"retries":${num(r.retries)},"redispatched":${r.redispatched}` +
    `,"cookieIn":${str(r.cookieIn)},"cookieOut":${str(r.cookieOut)}` +
    (r.error === undefined ? '' : `,"error":${str(r.error)}`) +
    `,"msg":"access"}`
  );
}
