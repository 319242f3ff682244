// Keep-alive GET of 64 KiB responses: body relay and backpressure.
import { runAutocannon } from '../lib/autocannon-load.js';

const SIZE = 64 * 1024;

export default {
  name: 'large',
  title: 'keep-alive GET, 64 KiB response',
  quick: true,
  path: `/?size=${SIZE}`,
  run: (target, { durationSec, connections }) =>
    runAutocannon({ port: target.port, servername: target.servername, path: `/?size=${SIZE}`, connections, durationSec }),
};
