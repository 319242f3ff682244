// The primary of `workers: N`: owns the config, the health checker, the admin API and
// the state file; forks the workers that serve traffic, tells them every config and
// server state, sums what they report, and restarts one that dies.
import cluster, { type Worker } from 'node:cluster';
import type { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { Logger } from 'pino';
import { createLoadBalancer, type LoadBalancer } from '../app.js';
import type { ReloadHook } from '../admin/control/api.js';
import type { BackendView, ServerView } from '../admin/control/server-control.js';
import type { Config } from '../config/types.js';
import type { FrontendView } from '../frontend/frontend-stats.js';
import type { LogOutput } from '../log.js';
import { workerShare, type FromWorker, type ServerStateUpdate, type ToWorker, type WorkerTraffic } from './messages.js';
import { PRIMARY } from './roles.js';

/** How long the primary waits for a worker's answer before counting without it. */
const ANSWER_TIMEOUT_MS = 2_000;
/** A config a worker has not applied by then is reported as a problem. */
const CONFIG_TIMEOUT_MS = 15_000;
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A worker that ran this long resets its slot's restart backoff. */
const STABLE_MS = 10_000;

export interface PrimaryOptions {
  readonly config: Config;
  readonly workers: number;
  readonly log: LogOutput;
  /** What POST /api/reload runs (it ends up in `apply`). */
  readonly reload: ReloadHook;
}

/** One worker slot: the process in it now, and its restart history. */
interface Slot {
  readonly index: number;
  worker: Worker | null;
  startedAt: number;
  backoffMs: number;
  /** Set once the worker has bound every frontend. */
  listening: boolean;
  /** A pending restart; it keeps the primary alive, and stop() clears it. */
  restart: NodeJS.Timeout | null;
}

/** A running primary; `stop` drains the workers, then closes the admin side. */
export interface Primary {
  readonly lb: LoadBalancer;
  /** Applies a validated config here, then in every worker; resolves with the problems met. */
  apply(config: Config): Promise<readonly string[]>;
  stop(): Promise<void>;
  /** Kills every worker at once (a second signal). */
  kill(): void;
}

/**
 * Copies a worker's stdout to `write` in whole lines: N processes writing one pipe could
 * split a line longer than the pipe's atomic size; one writer (ours) cannot. Resolves at
 * the stream's end.
 */
function forwardLines(stream: Readable | null, write: (lines: string) => void): Promise<void> {
  if (!stream) return Promise.resolve();
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const text = rest + chunk;
    const end = text.lastIndexOf('\n');
    if (end < 0) {
      rest = text;
      return;
    }
    write(text.slice(0, end));
    rest = text.slice(end + 1);
  });
  return new Promise((resolve) => {
    stream.once('close', () => {
      if (rest) write(rest);
      resolve();
    });
  });
}

/** Starts the control side and the workers; resolves once every worker listens. */
export async function startPrimary(options: PrimaryOptions): Promise<Primary> {
  const { workers: count, log } = options;
  const logger: Logger = log.logger;
  const ticketKeys = randomBytes(48).toString('base64');
  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({
    index,
    worker: null,
    startedAt: 0,
    backoffMs: RESTART_MIN_MS,
    listening: false,
    restart: null,
  }));
  let stopping = false;
  let nextId = 1;
  const pending = new Map<number, { worker: Worker; resolve: (value: unknown) => void }>();
  /** The port each frontend is bound to, as the workers report it. */
  const ports = new Map<string, number>();
  const loggedPorts = new Set<string>();

  /** One `listening` line per frontend, not per worker, once it serves. */
  function logListening(): void {
    for (const [frontend, port] of ports) {
      if (loggedPorts.has(`${frontend}:${port}`)) continue;
      loggedPorts.add(`${frontend}:${port}`);
      const config = lb.config.frontends.find((f) => f.name === frontend);
      logger.info({ frontend, address: config?.bind.host, port, tls: (config?.tls ?? null) !== null, workers: count }, 'listening');
    }
  }

  const live = () => slots.flatMap((s) => (s.worker && s.worker.isConnected() ? [s.worker] : []));

  function send(worker: Worker, message: ToWorker): void {
    if (worker.isConnected()) worker.send(message);
  }

  /** Sends a request to a worker; resolves with its answer, or undefined after `timeoutMs` or if it dies. */
  function ask(worker: Worker, build: (id: number) => ToWorker, timeoutMs = ANSWER_TIMEOUT_MS): Promise<unknown> {
    const id = nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => settle(undefined), timeoutMs);
      const settle = (value: unknown) => {
        clearTimeout(timer);
        pending.delete(id);
        resolve(value);
      };
      pending.set(id, { worker, resolve: settle });
      send(worker, build(id));
    });
  }

  function allStates(): ServerStateUpdate[] {
    return [...lb.backends.values()].flatMap((b) => b.servers.map((s) => s.stateUpdate()));
  }

  function configure(slot: Slot, worker: Worker, config: Config): Promise<unknown> {
    const share = workerShare(config, count, slot.index);
    return ask(
      worker,
      (id) => ({ type: 'config', id, config: share, ticketKeys, states: allStates(), acme: lb.acme.snapshot() }),
      CONFIG_TIMEOUT_MS,
    );
  }

  // ---- what the admin API shows: this process's state plus the workers' traffic ----

  async function workerTraffic(): Promise<WorkerTraffic[]> {
    const answers = await Promise.all(live().map((w) => ask(w, (id) => ({ type: 'query', id, what: 'traffic' }))));
    return answers.filter((a): a is WorkerTraffic => a !== undefined && a !== null);
  }

  /** The frontends as every worker counts them, summed (bind from the first that reports it), route hits too. */
  function sumFrontends(traffic: readonly WorkerTraffic[]): FrontendView[] {
    const sums = new Map<string, FrontendView>();
    for (const t of traffic) {
      for (const f of t.frontends) {
        const sum = sums.get(f.name);
        sums.set(
          f.name,
          sum
            ? {
                ...sum,
                connections: sum.connections + f.connections,
                requests: sum.requests + f.requests,
                errors: sum.errors + f.errors,
                routes: sum.routes?.map((r, i) => ({ ...r, hits: r.hits + (f.routes?.[i]?.hits ?? 0) })),
              }
            : f,
        );
      }
    }
    return [...sums.values()];
  }

  async function stateView(): Promise<{ frontends: FrontendView[]; backends: BackendView[] }> {
    const traffic = await workerTraffic();
    const view = lb.control.view();
    const sums = new Map<string, { active: number; queued: number; requests: number; errors: number }>();
    for (const t of traffic) {
      for (const s of t.servers) {
        const key = `${s.backend}/${s.server}`;
        const sum = sums.get(key) ?? { active: 0, queued: 0, requests: 0, errors: 0 };
        sum.active += s.active;
        sum.queued += s.queued;
        sum.requests += s.requests;
        sum.errors += s.errors;
        sums.set(key, sum);
      }
    }
    return {
      frontends: sumFrontends(traffic),
      backends: view.backends.map((b) => ({
        ...b,
        queued: traffic.reduce((n, t) => n + (t.backendQueues[b.name] ?? 0), 0),
        servers: b.servers.map((s): ServerView => ({ ...s, ...sums.get(`${b.name}/${s.name}`) })),
      })),
    };
  }

  async function metricsText(): Promise<string> {
    const answers = await Promise.all(live().map((w) => ask(w, (id) => ({ type: 'query', id, what: 'metrics' }))));
    const parts = [await lb.metrics.registry.getMetricsAsJSON(), ...answers.filter((a) => Array.isArray(a))] as MetricObjectWithValues<
      MetricValue<string>
    >[][];
    return AggregatorRegistry.aggregate(parts).metrics();
  }

  // ---- reload: the primary applies the config, then every worker does ----

  async function apply(config: Config): Promise<readonly string[]> {
    const problems = new Set(await lb.reload(config));
    const answers = await Promise.all(slots.flatMap((slot) => (slot.worker?.isConnected() ? [configure(slot, slot.worker, config)] : [])));
    for (const answer of answers) {
      if (answer === undefined) problems.add('a worker did not apply the new config in time');
      else for (const problem of answer as string[]) problems.add(problem);
    }
    return [...problems];
  }

  const lb = createLoadBalancer(options.config, {
    logger,
    accessLogger: log.accessLogger,
    accessLine: log.writeLine,
    role: PRIMARY,
    reload: options.reload,
    stateView,
    metricsText,
    // Only the primary talks to the CA; a challenge is offered to the CA once every worker answers it.
    acmePublish: async (update) => {
      await Promise.all(live().map((worker) => ask(worker, (id) => ({ type: 'acme', id, update }))));
    },
  });
  // Health and operator changes decided here are what the workers balance on.
  lb.onServerChange((server, kind) => {
    if (kind !== 'health' && kind !== 'admin' && kind !== 'weight') return;
    const message: ToWorker = { type: 'server-states', states: [server.stateUpdate()] };
    for (const worker of live()) send(worker, message);
  });

  // ---- the workers ----

  let startupFailed: ((err: Error) => void) | undefined;

  function onMessage(slot: Slot, worker: Worker, message: FromWorker): void {
    switch (message.type) {
      case 'ready':
        void configure(slot, worker, lb.config);
        return;
      case 'listening':
        slot.listening = true;
        for (const [frontend, port] of Object.entries(message.ports)) ports.set(frontend, port);
        if (startedUp) logListening();
        else readyWaiter?.();
        return;
      case 'passive':
        for (const [key, ok] of message.outcomes) lb.health.checker.observe(key, ok);
        return;
      case 'answer':
        pending.get(message.id)?.resolve(message.value);
        return;
    }
  }

  /** Workers' log output still being copied; stop() waits for it before the last flush. */
  const outputs = new Set<Promise<void>>();

  function fork(slot: Slot): void {
    const worker = cluster.fork({ DOORMAN_WORKER: String(slot.index) });
    const output = forwardLines(worker.process.stdout, log.writeLine);
    outputs.add(output);
    void output.then(() => outputs.delete(output));
    worker.process.stderr?.pipe(process.stderr, { end: false });
    slot.worker = worker;
    slot.startedAt = Date.now();
    slot.listening = false;
    worker.on('message', (message: FromWorker) => onMessage(slot, worker, message));
    worker.on('exit', (code, signal) => {
      for (const p of [...pending.values()]) if (p.worker === worker) p.resolve(undefined);
      if (slot.worker === worker) slot.worker = null;
      exitWaiter?.();
      if (stopping) return;
      // Not up yet: a worker that cannot bind would fail the same way again, so the start fails.
      if (!startedUp) {
        startupFailed?.(new Error(`worker ${worker.process.pid} exited during start (code ${code}, signal ${signal})`));
        return;
      }
      const ranMs = Date.now() - slot.startedAt;
      if (ranMs > STABLE_MS) slot.backoffMs = RESTART_MIN_MS;
      const delayMs = slot.backoffMs;
      slot.backoffMs = Math.min(RESTART_MAX_MS, slot.backoffMs * 2);
      logger.error(
        { worker: slot.index, workerPid: worker.process.pid, code, signal, ranMs, restartInMs: delayMs },
        'worker died: restarting',
      );
      slot.restart = setTimeout(() => {
        slot.restart = null;
        if (!stopping) fork(slot);
      }, delayMs);
    });
  }

  let readyWaiter: (() => void) | undefined;
  let exitWaiter: (() => void) | undefined;
  let startedUp = false;

  await lb.listen();
  // Workers' stdout comes through here (silent), so their lines and ours never interleave.
  cluster.setupPrimary({ exec: process.argv[1], args: process.argv.slice(2), silent: true });
  await new Promise<void>((resolve, reject) => {
    startupFailed = reject;
    readyWaiter = () => {
      if (slots.every((s) => s.listening)) resolve();
    };
    for (const slot of slots) fork(slot);
  }).catch(async (err: unknown) => {
    stopping = true;
    // Leave no worker behind: kill them and wait until they are gone (or 2 s).
    const running = slots.flatMap((slot) => (slot.worker ? [slot.worker] : []));
    const gone = Promise.all(running.filter((w) => !w.isDead()).map((w) => new Promise((resolve) => w.once('exit', resolve))));
    for (const worker of running) worker.process.kill('SIGKILL');
    await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    await lb.close();
    throw err;
  });
  startedUp = true;
  logListening();
  lb.startAcme();

  return {
    lb,
    apply,
    async stop() {
      stopping = true;
      for (const slot of slots) if (slot.restart) clearTimeout(slot.restart);
      lb.drain();
      const exited = new Promise<void>((resolve) => {
        exitWaiter = () => {
          if (slots.every((s) => s.worker === null)) resolve();
        };
        exitWaiter();
      });
      for (const worker of live()) send(worker, { type: 'shutdown' });
      // Workers drain for up to timeouts.grace + timeouts.shutdown; one that hangs past that is killed.
      const deadline = setTimeout(
        () => {
          for (const slot of slots) slot.worker?.process.kill('SIGKILL');
        },
        lb.config.timeouts.graceMs + lb.config.timeouts.shutdownMs + 2_000,
      );
      await exited;
      await Promise.all(outputs);
      clearTimeout(deadline);
      await lb.shutdown();
    },
    kill() {
      stopping = true;
      for (const slot of slots) if (slot.restart) clearTimeout(slot.restart);
      for (const slot of slots) slot.worker?.process.kill('SIGKILL');
    },
  };
}
