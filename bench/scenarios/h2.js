// HTTP/2 clients (h2load): 10 connections × 10 concurrent streams (issue 14's shape,
// whatever --connections says), GET with a 100-byte body; servers stay HTTP/1.1 behind
// the proxy. Needs h2load (Debian nghttp2-client).
import { h2loadVersion, runH2load } from '../lib/h2load.js';

const CONNECTIONS = 10;
const STREAMS = 10;

export default {
  name: 'h2',
  title: `HTTP/2 GET, 100-byte body, ${CONNECTIONS} connections × ${STREAMS} streams`,
  quick: true,
  path: '/?size=100',
  // The direct path is HTTPS/1.1 node servers; http-proxy speaks no HTTP/2.
  skip: ['direct', 'http-proxy'],
  available: () => (h2loadVersion() ? { ok: true } : { ok: false, why: 'h2load not on PATH (apt-get install nghttp2-client)' }),
  run: (target, { durationSec }) =>
    runH2load({
      port: target.port,
      servername: target.servername,
      path: '/?size=100',
      connections: CONNECTIONS,
      streams: STREAMS,
      durationSec,
    }),
};
