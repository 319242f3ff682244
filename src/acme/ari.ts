// ACME Renewal Information (RFC 9773): the CA's suggested window for renewing a
// certificate, fetched from the directory's `renewalInfo` URL.
import type { Agent } from 'node:https';
import { getJson } from './https-json.js';
import { readCertificateIdParts } from './der.js';
import { leafOf } from './certificate-facts.js';

/** The CA's window, in epoch milliseconds. */
export interface RenewalWindow {
  readonly startMs: number;
  readonly endMs: number;
}

/** RFC 9773 §4.1: base64url(keyIdentifier) "." base64url(serial), for the leaf of `certPem`. Throws without an AKI. */
export function ariCertificateId(certPem: string): string {
  const { serial, authorityKeyId } = readCertificateIdParts(leafOf(certPem).raw);
  if (authorityKeyId === null) throw new Error('the certificate has no Authority Key Identifier');
  return `${authorityKeyId.toString('base64url')}.${serial.toString('base64url')}`;
}

/** Parses a renewalInfo response body; throws on anything but a window whose start precedes its end. */
export function parseRenewalInfo(body: unknown): RenewalWindow {
  const window = (body as { suggestedWindow?: { start?: unknown; end?: unknown } } | null)?.suggestedWindow;
  const startMs = typeof window?.start === 'string' ? Date.parse(window.start) : NaN;
  const endMs = typeof window?.end === 'string' ? Date.parse(window.end) : NaN;
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs < startMs) throw new Error('renewalInfo: no valid suggestedWindow');
  return { startMs, endMs };
}

/** Fetches the CA's window for `certPem` from `renewalInfoUrl`; throws on any failure (the caller falls back). */
export async function fetchRenewalWindow(
  renewalInfoUrl: string,
  certPem: string,
  agent: Agent | null,
  timeoutMs: number,
): Promise<RenewalWindow> {
  const url = `${renewalInfoUrl.replace(/\/$/, '')}/${ariCertificateId(certPem)}`;
  const response = await getJson(url, agent, timeoutMs);
  if (response.status !== 200) throw new Error(`renewalInfo: HTTP ${response.status}`);
  return parseRenewalInfo(response.body);
}
