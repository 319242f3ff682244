// The keepalive scenario with 50 routes on Doorman's frontend that no request matches
// (host + path and path-only), so each request walks all 50 before its default backend.
// Compare its CPU-s/10k with `keepalive` of the same run: the cost of routing.
import keepalive from './keepalive.js';

export default {
  ...keepalive,
  name: 'routes',
  title: 'keep-alive GET, 100-byte body, 50 routes that do not match',
  quick: false,
  routes: 50,
  // Only Doorman is given the routes; the others would run plain keepalive again.
  skip: ['direct', 'haproxy', 'http-proxy', 'node-floor', 'doorman-base'],
};
