// `roundrobin`: smooth weighted round-robin (nginx's algorithm). Each pick adds every
// eligible server's effective weight to its current weight, picks the largest current
// weight and subtracts the total from it, which interleaves servers instead of bursting.
// Effective weights are read at every pick, so a slow-start ramp is followed as it grows.

import { isEligible, type BalancePolicy, type BalanceTarget, type PickContext } from './policy.js';

/** A smooth weighted round-robin policy over `servers`. */
export function createRoundRobinPolicy<T extends BalanceTarget>(servers: readonly T[]): BalancePolicy<T> {
  return new RoundRobinPolicy(servers);
}

class RoundRobinPolicy<T extends BalanceTarget> implements BalancePolicy<T> {
  readonly #servers: readonly T[];
  /** nginx's `current_weight`, one per server, same order as #servers. */
  readonly #current: Float64Array;

  constructor(servers: readonly T[]) {
    this.#servers = [...servers];
    this.#current = new Float64Array(this.#servers.length);
  }

  pick(ctx: PickContext): T | undefined {
    const servers = this.#servers;
    const current = this.#current;
    let total = 0;
    let bestIndex = -1;
    for (let i = 0; i < servers.length; i++) {
      const server = servers[i]!;
      if (!isEligible(server, ctx)) continue;
      const weight = server.effectiveWeight;
      current[i]! += weight;
      total += weight;
      if (bestIndex < 0 || current[i]! > current[bestIndex]!) bestIndex = i;
    }
    if (bestIndex < 0) return undefined;
    current[bestIndex]! -= total;
    return servers[bestIndex];
  }

  weightsChanged(): void {
    // Restart the sequence so old weights do not skew the new one.
    this.#current.fill(0);
  }
}
