// Servers that take 50 ms per answer, 200 client connections: tail latency of
// leastconn against roundrobin (each balancing contender runs once per policy).
import { runAutocannon } from '../lib/autocannon-load.js';

const CONNECTIONS = 200;

export default {
  name: 'slow',
  title: 'keep-alive GET, servers answer after 50 ms, 200 connections',
  quick: true,
  path: '/?size=100&delay=50',
  balances: ['leastconn', 'roundrobin'],
  connections: () => CONNECTIONS,
  run: (target, { durationSec }) =>
    runAutocannon({ port: target.port, servername: target.servername, path: '/?size=100&delay=50', connections: CONNECTIONS, durationSec }),
};
