#!/usr/bin/env node
// Doorman's command line: `node dist/lb.js [--config FILE] [--check] [--workers N|auto]`.
// The only module that exits the process.
import { parseArgs } from 'node:util';
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';
import { createLoadBalancer } from './app.js';
import type { ReloadOutcome } from './admin/control/api.js';
import { startPrimary, type Primary } from './cluster/primary.js';
import { runWorker } from './cluster/worker.js';
import type { Logger } from 'pino';
import { readConfig, type ReadResult } from './config/read.js';
import type { Config } from './config/types.js';
import { startHeapTrim } from './heap-trim.js';
import { createLogger, type LogOutput } from './log.js';
import { handleStopSignals } from './process-signals.js';

const USAGE = 'usage: node dist/lb.js [--config FILE] [--check] [--workers N|auto]';

function parseCommandLine() {
  try {
    return parseArgs({
      options: {
        config: { type: 'string', short: 'c', default: 'lb.yaml' },
        check: { type: 'boolean', default: false },
        workers: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
}

function parseWorkers(value: string | undefined): number | 'auto' | undefined {
  if (value === undefined) return undefined;
  if (value === 'auto') return 'auto';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`--workers: expected a positive integer or "auto", got "${value}"\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const args = parseCommandLine();
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const overrides = { workers: parseWorkers(args.workers) };

  const first = await readConfig(args.config, overrides, args.check);
  if (!first.config) {
    process.stderr.write(`${first.problems.join('\n')}\n`);
    process.exitCode = 1;
    return;
  }
  if (args.check) {
    process.stdout.write('config OK\n');
    return;
  }
  const config = first.config;

  const log = createLogger(config.log);
  const reread = () => readConfig(args.config, overrides, true);
  const workers = config.workers === 'auto' ? availableParallelism() : config.workers;
  if (workers > 1) return runPrimary(config, workers, log, reread);

  const { logger, accessLogger, writeLine, flush } = log;
  const reload = createReload(
    reread,
    (next) => lb.reload(next),
    () => lb.draining,
    logger,
  );
  const lb = createLoadBalancer(config, { logger, accessLogger, accessLine: writeLine, reload });
  // Signals are handled from the first moment: a SIGHUP during start must not kill us.
  handleStopSignals({
    logger,
    flush,
    shutdown: () => lb.shutdown(),
    reload,
    details: { drainMs: config.timeouts.shutdownMs, graceMs: config.timeouts.graceMs },
  });
  try {
    await lb.listen();
  } catch (err) {
    logger.fatal({ err }, 'cannot start');
    await lb.close();
    await flush();
    process.exit(1);
  }
  startHeapTrim(logger);
}

/**
 * A reload: re-read the file, then `apply` it; a bad file, or a reload asked for while
 * draining, leaves the running config alone. Every problem is also logged.
 */
function createReload(
  reread: () => Promise<ReadResult>,
  apply: (config: Config) => Promise<readonly string[]>,
  draining: () => boolean,
  logger: Logger,
): () => Promise<ReloadOutcome> {
  return async () => {
    if (draining()) {
      logger.warn('reload refused: shutting down');
      return { applied: false, problems: ['shutting down: reload refused'] };
    }
    const next = await reread();
    if (!next.config) {
      logger.error({ errors: next.problems }, 'reload refused: keeping the running config');
      return { applied: false, problems: next.problems };
    }
    const problems = await apply(next.config);
    if (problems.length > 0) logger.error({ errors: problems }, 'reloaded with problems');
    else logger.info({ frontends: next.config.frontends.length, backends: next.config.backends.length }, 'reloaded');
    return { applied: true, problems };
  };
}

/** `workers: N`: this process checks, administers and supervises; N workers serve. */
async function runPrimary(config: Config, workers: number, log: LogOutput, reread: () => Promise<ReadResult>): Promise<void> {
  const { logger, flush } = log;
  let primary: Primary | undefined;
  const reload = createReload(
    reread,
    async (next) => (primary ? primary.apply(next) : ['still starting: the new config applies from the next reload']),
    () => primary?.lb.draining ?? false,
    logger,
  );
  const starting = startPrimary({ config, workers, log, reload });
  // Signals are handled from the first moment: a SIGHUP while workers start must not kill us.
  handleStopSignals({
    logger,
    flush,
    shutdown: async () => (await starting).stop(),
    reload,
    kill: () =>
      void starting.then(
        (primary) => primary.kill(),
        () => {},
      ),
    details: { drainMs: config.timeouts.shutdownMs, graceMs: config.timeouts.graceMs, workers },
  });
  try {
    primary = await starting;
  } catch (err) {
    logger.fatal({ err }, 'cannot start');
    await flush();
    process.exit(1);
  }
  startHeapTrim(logger);
}

const isWorker = cluster.isWorker;
(isWorker ? Promise.resolve(runWorker()) : main()).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
