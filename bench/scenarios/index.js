// Every scenario, in the order they run; one file each.
import h2 from './h2.js';
import keepalive from './keepalive.js';
import largeResponse from './large-response.js';
import memory from './memory.js';
import newConnection from './new-connection.js';
import postBody from './post-body.js';
import routes from './routes.js';
import slowBackend from './slow-backend.js';
import sticky from './sticky.js';

export const SCENARIOS = [keepalive, sticky, newConnection, largeResponse, postBody, slowBackend, h2, routes, memory];
