// Maps a backend's `balance` setting to its policy.

import type { BalanceAlgorithm } from '../config/types.js';
import { createLeastConnPolicy } from './least-conn.js';
import type { BalancePolicy, BalanceTarget } from './policy.js';
import { createRoundRobinPolicy } from './round-robin.js';
import { createSourceHashPolicy } from './source-hash.js';

/** The balancing policy named by `algorithm` over `servers`. */
export function createPolicy<T extends BalanceTarget>(algorithm: BalanceAlgorithm, servers: readonly T[]): BalancePolicy<T> {
  switch (algorithm) {
    case 'leastconn':
      return createLeastConnPolicy(servers);
    case 'roundrobin':
      return createRoundRobinPolicy(servers);
    case 'source':
      return createSourceHashPolicy(servers);
    default: {
      const unknown: never = algorithm;
      throw new TypeError(`unknown balance algorithm: ${String(unknown)}`);
    }
  }
}
