// Every contender, in the order they run inside a round.
import direct from './direct.js';
import doorman, { doormanBase } from './doorman.js';
import haproxy from './haproxy.js';
import httpProxy from './http-proxy.js';
import nodeFloor from './node-floor.js';

export const CONTENDERS = [direct, doorman, doormanBase, haproxy, httpProxy, nodeFloor];
