// `leastconn`: the eligible server with the fewest in-flight requests relative to its
// effective weight. Servers that tie share the picks by smooth weighted round-robin
// (nginx's least_conn): at low load every server is idle and ties, and weights, slow
// start's ramp included, must still count there; equal servers simply take turns.

import { isEligible, type BalancePolicy, type BalanceTarget, type PickContext } from './policy.js';

/** A least-connections policy over `servers` (weights and counts are read at pick time). */
export function createLeastConnPolicy<T extends BalanceTarget>(servers: readonly T[]): BalancePolicy<T> {
  return new LeastConnPolicy(servers);
}

class LeastConnPolicy<T extends BalanceTarget> implements BalancePolicy<T> {
  readonly #servers: readonly T[];
  /** nginx's `current_weight` for the round-robin among ties, same order as #servers. */
  readonly #current: Float64Array;
  /** This pick's effective weights, read once; -1 marks an ineligible server. */
  readonly #weights: Float64Array;

  constructor(servers: readonly T[]) {
    this.#servers = [...servers];
    this.#current = new Float64Array(this.#servers.length);
    this.#weights = new Float64Array(this.#servers.length);
  }

  pick(ctx: PickContext): T | undefined {
    const servers = this.#servers;
    const weights = this.#weights;
    let best = -1;
    let ties = 0;
    for (let i = 0; i < servers.length; i++) {
      const server = servers[i]!;
      if (!isEligible(server, ctx)) {
        weights[i] = -1;
        continue;
      }
      const weight = server.effectiveWeight;
      weights[i] = weight;
      // active/weight against the best's, without dividing.
      const order = best < 0 ? -1 : server.active * weights[best]! - servers[best]!.active * weight;
      if (order < 0) {
        best = i;
        ties = 1;
      } else if (order === 0) {
        ties++;
      }
    }
    if (ties <= 1) return best < 0 ? undefined : servers[best];
    // Every tie comes at or after `best`: an earlier equal one would have stayed best.
    const current = this.#current;
    const bestActive = servers[best]!.active;
    const bestWeight = weights[best]!;
    let total = 0;
    let chosen = best;
    for (let i = best; i < servers.length; i++) {
      const weight = weights[i]!;
      if (weight < 0 || servers[i]!.active * bestWeight !== bestActive * weight) continue;
      current[i]! += weight;
      total += weight;
      if (current[i]! > current[chosen]!) chosen = i;
    }
    current[chosen]! -= total;
    return servers[chosen];
  }

  weightsChanged(): void {
    // Restart the round-robin so old weights do not skew the new one.
    this.#current.fill(0);
  }
}
