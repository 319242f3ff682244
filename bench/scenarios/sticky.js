// The keep-alive GET again, every request carrying the persistence cookie the proxy
// set on the first answer (the sticky path: cookie parsed, server looked up, cookie
// stripped, no Set-Cookie). Contenders without the cookie get WEBSERVERID=web1,
// which they pass through untouched.
import { runAutocannon } from '../lib/autocannon-load.js';

/** The WEBSERVERID pair from a Set-Cookie header value (string or array), or null. */
export function persistenceCookie(setCookie) {
  for (const value of [].concat(setCookie ?? [])) {
    const match = /^\s*(WEBSERVERID=[^;]*)/.exec(value);
    if (match) return match[1];
  }
  return null;
}

export default {
  name: 'sticky',
  title: 'keep-alive GET, 100-byte body, persistence cookie sent',
  quick: true,
  path: '/?size=100',
  prepare(target, probe) {
    const cookie = persistenceCookie(probe.headers['set-cookie']);
    return { cookie: cookie ?? 'WEBSERVERID=web1', cookieSource: cookie ? 'set by the proxy' : 'fixed (no cookie feature)' };
  },
  run: (target, { durationSec, connections }) =>
    runAutocannon({
      port: target.port,
      servername: target.servername,
      path: '/?size=100',
      headers: { cookie: target.prepared.cookie },
      connections,
      durationSec,
    }),
};
