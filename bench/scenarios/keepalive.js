// Keep-alive GET with a ~100-byte body: the request rate a proxy sustains when
// connections are reused on both sides.
import { runAutocannon } from '../lib/autocannon-load.js';

export default {
  name: 'keepalive',
  title: 'keep-alive GET, 100-byte body',
  quick: true,
  path: '/?size=100',
  run: (target, { durationSec, connections }) =>
    runAutocannon({ port: target.port, servername: target.servername, path: '/?size=100', connections, durationSec }),
};
