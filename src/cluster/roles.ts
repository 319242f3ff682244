// The two sides of `workers: N`, as the load balancer's roles: a primary controls (admin
// API, health checks, state file) and serves nothing; a worker serves and controls
// nothing, balancing on the server states its primary sends.
import type { Role } from '../app.js';

export const PRIMARY: Role = { serves: false, controls: true };
export const WORKER: Role = { serves: true, controls: false };
