// `leastconn`: the eligible server with the fewest in-flight requests relative to its
// weight. Ties rotate: each scan starts just after the previously picked server, so
// equal servers are taken in turn even when `active` never changes between picks.

import { isEligible, type BalancePolicy, type BalanceTarget, type PickContext } from './policy.js';

/** A least-connections policy over `servers` (weights and counts are read at pick time). */
export function createLeastConnPolicy<T extends BalanceTarget>(servers: readonly T[]): BalancePolicy<T> {
  return new LeastConnPolicy(servers);
}

class LeastConnPolicy<T extends BalanceTarget> implements BalancePolicy<T> {
  readonly #servers: readonly T[];
  /** Where the next scan starts: just after the last server picked. */
  #start = 0;

  constructor(servers: readonly T[]) {
    this.#servers = [...servers];
  }

  pick(ctx: PickContext): T | undefined {
    const servers = this.#servers;
    const n = servers.length;
    let best: T | undefined;
    let bestIndex = -1;
    for (let i = 0; i < n; i++) {
      let index = this.#start + i;
      if (index >= n) index -= n;
      const server = servers[index]!;
      if (!isEligible(server, ctx)) continue;
      // active/weight < best.active/best.weight, without dividing; strict so the
      // first of equal servers in scan order wins.
      if (best === undefined || server.active * best.weight < best.active * server.weight) {
        best = server;
        bestIndex = index;
      }
    }
    if (best !== undefined) this.#start = bestIndex + 1 === n ? 0 : bestIndex + 1;
    return best;
  }

  weightsChanged(): void {
    // Weights are read at every pick: nothing is precomputed.
  }
}
