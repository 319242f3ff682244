// A new TLS connection per request (full handshake, no session resumption, then
// `Connection: close`): handshake-bound. autocannon cannot do this, so N concurrent
// node:tls loops run for the fixed duration, verifying the proxy's certificate.
import { newConnectionLoad } from '../lib/tls-client.js';

export default {
  name: 'newconn',
  title: 'new TLS connection per request, 100-byte body',
  quick: true,
  path: '/?size=100',
  run: (target, { durationSec, connections }) =>
    newConnectionLoad({
      port: target.port,
      servername: target.servername,
      ca: target.ca,
      path: '/?size=100',
      concurrency: connections,
      durationSec,
    }),
};
