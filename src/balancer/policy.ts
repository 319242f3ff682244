// The balancing policy interface: given the servers of a backend, choose one for a
// new client. Policies are pure (no I/O, no timers); they read weights, in-flight
// counts and availability at pick time because those change at runtime.

/** What a policy needs to know of a server. Read at pick time: weights and counts change at runtime. */
export interface BalanceTarget {
  readonly name: string;
  /** The operator's weight; 0 = takes no new clients. `source` builds its ring on it. */
  readonly weight: number;
  /**
   * The weight to share traffic by now: `weight`, or less while slow start ramps the
   * server up (then > 0 whenever `weight` is). Read at every pick: it changes with time.
   */
  readonly effectiveWeight: number;
  /** Requests in flight now. */
  readonly active: number;
  /** True when the server may take a new client now (UP, READY, not full). */
  isAvailable(): boolean;
}

/** What a policy knows of the request it picks a server for. */
export interface PickContext {
  /** Client IP address, used by `source`. */
  readonly clientAddress: string;
  /** Servers already tried for this request (redispatch); never returned. */
  readonly exclude?: ReadonlySet<BalanceTarget> | undefined;
}

/** A way of choosing a server for a new client among a backend's servers. */
export interface BalancePolicy<T extends BalanceTarget> {
  /** The server for a new client, or undefined when none is available. */
  pick(ctx: PickContext): T | undefined;
  /** Call after a server's weight changed so precomputed structures are rebuilt. */
  weightsChanged(): void;
}

/** True when `server` may be picked for this request: positive weight, not excluded, available. */
export function isEligible(server: BalanceTarget, ctx: PickContext): boolean {
  // `> 0` is also false for NaN; cheap checks first, isAvailable() last.
  return server.weight > 0 && ctx.exclude?.has(server) !== true && server.isAvailable();
}
