// A worker process: serves the frontends with the config the primary sends, balances
// on the server states the primary decides, and answers its queries for metrics and
// traffic counts. It reads no file and runs no health check of its own.
import type { Logger } from 'pino';
import { createLoadBalancer, type LoadBalancer } from '../app.js';
import type { Backend } from '../backend/backend.js';
import { createLogger, type LogOutput } from '../log.js';
import { startHeapTrim } from '../heap-trim.js';
import { handleStopSignals } from '../process-signals.js';
import type { FromWorker, ServerStateUpdate, ToWorker, WorkerTraffic } from './messages.js';
import { WORKER } from './roles.js';

function send(message: FromWorker): void {
  // The primary may be gone (then 'disconnect' stops us): a failed send is not a crash.
  if (process.connected) process.send?.(message, undefined, undefined, () => {});
}

/** Applies the primary's view of servers: the balancer reacts as if it had decided it. */
export function applyServerStates(backends: ReadonlyMap<string, Backend>, states: readonly ServerStateUpdate[]): void {
  for (const state of states) backends.get(state.backend)?.server(state.server)?.applyUpdate(state);
}

function trafficOf(lb: LoadBalancer): WorkerTraffic {
  const servers = [];
  const backendQueues: Record<string, number> = {};
  for (const backend of lb.backends.values()) {
    backendQueues[backend.name] = backend.queue.size;
    for (const s of backend.servers) {
      servers.push({
        backend: backend.name,
        server: s.name,
        active: s.active,
        queued: s.queue.size,
        requests: s.requests,
        errors: s.errors,
      });
    }
  }
  return { frontends: lb.frontendView(), servers, backendQueues };
}

/** Passive-check outcomes, sent to the primary in one message per turn of the event loop. */
function createPassiveBatcher(): (key: string, ok: boolean) => void {
  let batch: Array<[string, boolean]> = [];
  return (key, ok) => {
    if (batch.length === 0) {
      setImmediate(() => {
        send({ type: 'passive', outcomes: batch });
        batch = [];
      });
    }
    batch.push([key, ok]);
  };
}

/** Runs this process as a worker until the primary tells it to stop. */
export function runWorker(): void {
  let lb: LoadBalancer | undefined;
  let log: LogOutput | undefined;
  let logger: Logger | undefined;
  let stopping = false;

  async function stop(): Promise<void> {
    if (stopping) return;
    stopping = true;
    await lb?.shutdown();
    await log?.flush();
    process.exit(0);
  }

  async function configure(message: Extract<ToWorker, { type: 'config' }>): Promise<readonly string[]> {
    if (lb) {
      for (const update of message.acme) lb.acme.apply(update);
      const problems = await lb.reload(message.config);
      applyServerStates(lb.backends, message.states);
      return problems;
    }
    log = createLogger(message.config.log);
    logger = log.logger;
    lb = createLoadBalancer(message.config, {
      logger,
      accessLogger: log.accessLogger,
      accessLine: log.writeLine,
      role: WORKER,
      ticketKeys: Buffer.from(message.ticketKeys, 'base64'),
      passiveSink: createPassiveBatcher(),
    });
    applyServerStates(lb.backends, message.states);
    for (const update of message.acme) lb.acme.apply(update);
    const running = lb;
    handleStopSignals({ logger, flush: log.flush, shutdown: () => running.shutdown(), reload: null });
    try {
      await lb.listen();
    } catch (err) {
      logger.fatal({ err }, 'worker cannot start');
      await lb.close();
      await log.flush();
      process.exit(1);
    }
    startHeapTrim(logger);
    return [];
  }

  function portsOf(running: LoadBalancer): Record<string, number> {
    const ports: Record<string, number> = {};
    for (const frontend of running.config.frontends) {
      try {
        ports[frontend.name] = running.port(frontend.name);
      } catch {
        // Not bound: its error is among the problems.
      }
    }
    return ports;
  }

  async function answer(message: Extract<ToWorker, { type: 'query' }>): Promise<unknown> {
    if (!lb) return null;
    return message.what === 'metrics' ? lb.metrics.registry.getMetricsAsJSON() : trafficOf(lb);
  }

  process.on('message', (message: ToWorker) => {
    switch (message.type) {
      case 'config':
        configure(message).then(
          (problems) => {
            send({ type: 'answer', id: message.id, value: problems });
            if (lb) send({ type: 'listening', ports: portsOf(lb) });
          },
          (err: unknown) => send({ type: 'answer', id: message.id, value: [`worker ${process.pid}: ${(err as Error).message}`] }),
        );
        return;
      case 'acme':
        lb?.acme.apply(message.update);
        send({ type: 'answer', id: message.id, value: null });
        return;
      case 'server-states':
        if (lb) applyServerStates(lb.backends, message.states);
        return;
      case 'query':
        answer(message).then(
          (value) => send({ type: 'answer', id: message.id, value }),
          () => send({ type: 'answer', id: message.id, value: null }),
        );
        return;
      case 'shutdown':
        void stop();
        return;
    }
  });
  // The primary is gone: nobody will restart or stop us, so drain and leave.
  process.on('disconnect', () => void stop());
  send({ type: 'ready' });
}
