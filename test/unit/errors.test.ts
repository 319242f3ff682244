// The error table is the one vocabulary of failures: each code unique, documented in
// the README with its status and termination, and mapped by the httplog line.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sessionState } from '../../src/access-log/httplog.js';
import { LB_ERRORS, LbError, type LbErrorCode } from '../../src/errors.js';
import type { AccessRecord } from '../../src/exchange/access-record.js';
import { classifyUpstreamError } from '../../src/upstream/classify.js';
import { PinMismatchError } from '../../src/tls/pin.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const codes = Object.keys(LB_ERRORS) as LbErrorCode[];

/** The README's error table rows, by code: [status, termination]. */
function documentedRows(): Map<string, [string, string]> {
  const rows = new Map<string, [string, string]>();
  for (const match of readme.matchAll(/^\| `(LB_ERR_[A-Z_]+)` \| ([^|]+) \| ([^|]+) \|/gm)) {
    rows.set(match[1]!, [match[2]!.trim(), match[3]!.trim().replaceAll('`', '')]);
  }
  return rows;
}

describe('the error table', () => {
  it('documents every code in the README with its status and termination, and nothing else', () => {
    const rows = documentedRows();
    expect([...rows.keys()].sort()).toEqual([...codes].sort());
    for (const code of codes) {
      const { status, termination } = LB_ERRORS[code];
      expect(rows.get(code), code).toEqual([status === null ? '—' : String(status), termination ?? '—']);
    }
  });

  it('gives each error its status and termination from the table', () => {
    for (const code of codes) {
      const err = new LbError(code);
      expect(err.status).toBe(LB_ERRORS[code].status);
      expect(err.termination).toBe(LB_ERRORS[code].termination);
      expect(err.message).toBe(LB_ERRORS[code].message);
    }
  });

  it('maps every termination to an HAProxy session state', () => {
    const base = { queueMs: -1, connectMs: -1, responseMs: -1, status: 0 } as AccessRecord;
    for (const code of codes) {
      const termination = LB_ERRORS[code].termination;
      if (termination) expect(sessionState({ ...base, termination }), code).toMatch(/^[-CcSsPRIDKUL][-RQCHDLT]$/);
    }
  });
});

describe('classifyUpstreamError', () => {
  it.each([
    [Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'LB_ERR_CONNECT', 'connect: ECONNREFUSED'],
    [new LbError('LB_ERR_CONNECT_TIMEOUT', 'connect: timeout'), 'LB_ERR_CONNECT_TIMEOUT', 'connect: timeout'],
    [Object.assign(new Error('x'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' }), 'LB_ERR_UPSTREAM_TLS', 'tls: DEPTH_ZERO_SELF_SIGNED_CERT'],
    [new PinMismatchError('sha256/x'), 'LB_ERR_UPSTREAM_TLS', 'tls: pin mismatch'],
    [Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'LB_ERR_UPSTREAM_CLOSED', 'closed: read ECONNRESET'],
    [Object.assign(new Error('stream closed'), { code: 'ERR_HTTP2_STREAM_ERROR' }), 'LB_ERR_UPSTREAM_CLOSED', 'closed: stream closed'],
    [new Error('something else'), 'LB_ERR_BAD_RESPONSE', 'error: something else'],
  ])('%s -> %s', (err, code, reason) => {
    const classified = classifyUpstreamError(err);
    expect(classified.code).toBe(code);
    expect(classified.message).toBe(reason);
  });
});
