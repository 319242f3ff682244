// How a host and port are written back for people: IPv6 hosts in brackets.
import type { HostPort } from './types.js';

/** `127.0.0.1:8443`, `[::1]:8443`. */
export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
