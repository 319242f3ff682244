// Keep-alive POST of 16 KiB request bodies, 100-byte answers: request body relay.
import { runAutocannon } from '../lib/autocannon-load.js';

const BODY = Buffer.alloc(16 * 1024, 'p');

export default {
  name: 'post',
  title: 'keep-alive POST, 16 KiB request body, 100-byte answer',
  quick: true,
  path: '/?size=100',
  run: (target, { durationSec, connections }) =>
    runAutocannon({
      port: target.port,
      servername: target.servername,
      path: '/?size=100',
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: BODY,
      connections,
      durationSec,
    }),
};
