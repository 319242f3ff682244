// What keeps the admin listener from being used by a web page in an operator's
// browser, or from where it should not be reached: the client address (admin.allow),
// the Host (DNS rebinding: a page on evil.example resolving to 127.0.0.1; a name must be
// loopback, the bind address or allowed, an IP address always passes), and for
// state-changing requests the Origin and a JSON body (a cross-site form or fetch cannot
// send `application/json` without a CORS preflight, which is never granted).
import type http from 'node:http';
import { isIP } from 'node:net';
import { cidrList, inBlockList, plainAddress } from '../client-address.js';
import type { AdminConfig } from '../config/types.js';

/** Why a request is refused, or null when it may go on. */
export type Refusal = 'address not allowed' | 'host not allowed' | 'cross-site request' | 'body must be application/json';

/** The host part of a Host value, lower-case, brackets kept off IPv6. */
function hostOf(host: string): string {
  const lower = host.trim().toLowerCase();
  if (lower.startsWith('[')) return lower.slice(1, lower.indexOf(']'));
  const colon = lower.lastIndexOf(':');
  return colon > 0 && lower.indexOf(':') === colon ? lower.slice(0, colon) : lower;
}

function isLoopbackHost(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost') || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

export class AdminGuard {
  readonly #config: AdminConfig;
  readonly #allow: ReturnType<typeof cidrList>;

  constructor(config: AdminConfig) {
    this.#config = config;
    this.#allow = cidrList(config.allow);
  }

  check(req: http.IncomingMessage): Refusal | null {
    if (this.#allow && !inBlockList(this.#allow, plainAddress(req.socket.remoteAddress))) return 'address not allowed';
    const host = hostOf(req.headers.host ?? '');
    const bind = this.#config.bind.host.toLowerCase();
    const boundTo = bind !== '0.0.0.0' && bind !== '::' && host === bind;
    // An address is never a rebinding: a page can only name it if it was served from it.
    if (!isLoopbackHost(host) && isIP(host) === 0 && !boundTo && !this.#config.allowedHosts.includes(host)) return 'host not allowed';
    const method = req.method ?? 'GET';
    if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return null;
    // A browser names the page that sent the request; it must be the admin's own.
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) return 'cross-site request';
    if (req.headers['sec-fetch-site'] === 'cross-site') return 'cross-site request';
    const length = req.headers['content-length'];
    const hasBody = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (hasBody && type !== 'application/json') return 'body must be application/json';
    return null;
  }
}
