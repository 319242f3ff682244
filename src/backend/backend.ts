// A backend at runtime: its servers, balancing policy and queue. `acquire` hands out
// a server slot (now, or after waiting in a FIFO); `release` gives it back and wakes
// the oldest waiter.
import type { BlockList } from 'node:net';
import { createPersistenceCookie, type PersistenceCookie } from '../balancer/cookie.js';
import { createPolicy } from '../balancer/create-policy.js';
import type { BalancePolicy } from '../balancer/policy.js';
import { cidrList } from '../client-address.js';
import type { BackendConfig, CookieConfig, TimeoutsConfig } from '../config/types.js';
import { LbError } from '../errors.js';
import { WaitQueue, type Waiter } from './wait-queue.js';
import type { UpstreamServer } from './server.js';

/** What the balancer needs to know of one request. */
export interface AcquireRequest {
  readonly clientAddress: string;
  /** The server named by a valid persistence cookie, if any. */
  readonly preferred?: UpstreamServer | undefined;
  /** Servers already tried for this request (redispatch). */
  readonly exclude?: ReadonlySet<UpstreamServer> | undefined;
}

/** A request waiting for a slot: resolves with a server, rejects with an LbError. */
export interface PendingAcquire {
  readonly promise: Promise<UpstreamServer>;
  /** Requests already waiting in the queue this one joined first (HAProxy's srv_queue / backend_queue). */
  readonly ahead: { readonly server: number; readonly backend: number };
  /** Withdraws the request (client gone). A later grant is then impossible. */
  cancel(): void;
}

/** Immediate outcome of trying to place a request. */
export type Placement =
  | { readonly kind: 'server'; readonly server: UpstreamServer }
  | { readonly kind: 'wait'; readonly pending: PendingAcquire }
  | { readonly kind: 'none' };

/** The persistence cookie of a backend, with its config. */
export interface Persistence {
  readonly config: CookieConfig;
  readonly cookie: PersistenceCookie;
  /** The Cookie header without ours (bound, to pass as a callback). */
  readonly strip: (cookieHeader: string) => string | undefined;
  /** Whether Set-Cookie carries Secure on a frontend of this protocol. */
  secure(proto: 'http' | 'https'): boolean;
}

function createPersistence(config: CookieConfig, servers: readonly UpstreamServer[]): Persistence {
  const cookie = createPersistenceCookie(
    config,
    servers.map((s) => s.config.cookie),
  );
  return {
    config,
    cookie,
    strip: (header) => cookie.strip(header),
    secure: config.secure === 'auto' ? (proto) => proto === 'https' : () => config.secure === true,
  };
}

/** A named group of servers with a policy, a queue and a slot accounting. */
export class Backend {
  readonly name: string;
  readonly queue = new WaitQueue<UpstreamServer | null>();
  // Replaced together by a reload (see reconfigure); a request reads them synchronously.
  config!: BackendConfig;
  servers!: readonly UpstreamServer[];
  persistence!: Persistence | null;
  forwardTrusted!: BlockList | null;
  forwardExcept!: BlockList | null;
  #policy!: BalancePolicy<UpstreamServer>;
  #queueMs!: number;
  /** Servers whose change event this backend listens to. */
  readonly #watched = new WeakSet<UpstreamServer>();

  constructor(config: BackendConfig, servers: readonly UpstreamServer[], timeouts: TimeoutsConfig) {
    this.name = config.name;
    this.reconfigure(config, servers, timeouts);
  }

  /**
   * Applies a (re)loaded config in place, so requests in flight and waiting keep their
   * backend: a new server list, policy and cookie codec; the queue stays. Servers the
   * reload removed are no longer listed and take nothing new.
   */
  reconfigure(config: BackendConfig, servers: readonly UpstreamServer[], timeouts: TimeoutsConfig): void {
    this.config = config;
    this.servers = servers;
    this.#policy = createPolicy(config.balance, servers);
    this.#queueMs = timeouts.queueMs;
    this.persistence = config.cookie ? createPersistence(config.cookie, servers) : null;
    this.forwardTrusted = cidrList(config.forwardFor.trusted);
    this.forwardExcept = cidrList(config.forwardFor.except ? [config.forwardFor.except] : []);
    for (const server of servers) {
      if (!this.#watched.has(server)) {
        this.#watched.add(server);
        server.onChange(this.#serverChanged);
      }
      this.#handOver(server);
    }
  }

  /** The server called `name`, if any. */
  server(name: string): UpstreamServer | undefined {
    return this.servers.find((s) => s.name === name);
  }

  /**
   * Places a request: on its cookie's server if that one takes cookie holders, else
   * on the policy's pick. Full servers make it wait (in the cookie server's own queue
   * or the backend's); no usable server at all is 'none' (503 at once).
   */
  place(request: AcquireRequest): Placement {
    const choice = this.#choose(request);
    if (choice === null) return { kind: 'none' };
    if (choice instanceof WaitQueue) return { kind: 'wait', pending: this.#wait(choice, request) };
    choice.takeSlot();
    return { kind: 'server', server: choice };
  }

  /** A server with a free slot, the queue to wait in, or null when nothing can serve. */
  #choose(request: AcquireRequest): UpstreamServer | WaitQueue<UpstreamServer | null> | null {
    const preferred = request.preferred;
    if (preferred && preferred.takesCookieHolders() && !request.exclude?.has(preferred)) {
      return preferred.hasRoom() && preferred.queue.size === 0 ? preferred : preferred.queue;
    }
    const picked = this.#policy.pick({ clientAddress: request.clientAddress, exclude: request.exclude });
    if (picked) return picked;
    const anyUsable = this.servers.some((s) => s.takesNewClients() && !request.exclude?.has(s));
    return anyUsable ? this.queue : null;
  }

  /** Gives a slot back and hands it to the oldest request that may use it. */
  release(server: UpstreamServer): void {
    server.releaseSlot();
    this.#handOver(server);
  }

  /**
   * Re-evaluates after a server's health, operator state or weight changed (its change
   * event): waiters pinned to a server that no longer takes them are balanced again,
   * and a server that became usable takes waiters from the backend queue.
   */
  readonly #serverChanged = (server: UpstreamServer): void => {
    this.#policy.weightsChanged();
    if (!server.takesCookieHolders()) {
      for (const waiter of server.queue.drain()) waiter.resolve(null);
    }
    // Nothing can take new clients any more: the backend queue gets its 503 now, not at timeouts.queue.
    if (this.queue.size > 0 && !this.servers.some((s) => s.takesNewClients())) {
      for (const waiter of this.queue.drain()) waiter.resolve(null);
    }
    this.#handOver(server);
  };

  /** Requests waiting in the backend queue and every server queue. */
  get queued(): number {
    let total = this.queue.size;
    for (const server of this.servers) total += server.queue.size;
    return total;
  }

  #handOver(server: UpstreamServer): void {
    while (server.hasRoom()) {
      const own = server.takesCookieHolders() ? server.queue.peek() : undefined;
      const shared = server.takesNewClients() ? this.queue.peekFor(server) : undefined;
      if (own && (!shared || own.enqueuedAt <= shared.enqueuedAt)) {
        server.takeSlot();
        server.queue.grant(server);
      } else if (shared) {
        server.takeSlot();
        this.queue.grantTo(shared, server);
      } else {
        return;
      }
    }
  }

  /** Waits in `queue` until granted a server, re-placed, cancelled or timed out. */
  #wait(queue: WaitQueue<UpstreamServer | null>, request: AcquireRequest): PendingAcquire {
    const ahead = queue === this.queue ? { server: 0, backend: queue.size } : { server: queue.size, backend: 0 };
    const deadline = performance.now() + this.#queueMs;
    let waiter: Waiter | undefined;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const promise = new Promise<UpstreamServer>((resolve, reject) => {
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        fn();
      };
      const exclude = request.exclude;
      // A redispatched request never takes a slot on a server it already failed on.
      const accepts = exclude && exclude.size > 0 ? (server: UpstreamServer | null) => !server || !exclude.has(server) : undefined;
      const enqueue = (target: WaitQueue<UpstreamServer | null>) => {
        waiter = target.push(
          (server) => {
            if (server) return finish(() => resolve(server));
            // The pinned server stopped taking its cookie holders: balance again.
            const choice = this.#choose({ clientAddress: request.clientAddress, exclude });
            if (choice === null) return finish(() => reject(new LbError('LB_ERR_NO_SERVER', 'no server available')));
            if (choice instanceof WaitQueue) return enqueue(choice);
            choice.takeSlot();
            finish(() => resolve(choice));
          },
          performance.now(),
          accepts,
        );
      };
      enqueue(queue);
      timer = setTimeout(
        () => {
          waiter?.cancel();
          finish(() => reject(new LbError('LB_ERR_QUEUE_TIMEOUT', 'queue timeout')));
        },
        Math.max(0, deadline - performance.now()),
      );
    });
    return {
      promise,
      ahead,
      cancel: () => {
        waiter?.cancel();
        if (!settled) {
          settled = true;
          clearTimeout(timer);
        }
      },
    };
  }
}
