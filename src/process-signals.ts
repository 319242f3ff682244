// Signal handling shared by the CLI and the demo: SIGTERM/SIGINT drain then exit 0,
// a second signal exits at once; uncaught exceptions are logged, never fatal.
import type { Logger } from 'pino';

export interface StopOptions {
  readonly logger: Logger;
  /** Starts the graceful shutdown; listeners must be closed before it first awaits. */
  readonly shutdown: () => Promise<void>;
  /** Writes out buffered log lines. */
  readonly flush: () => Promise<void>;
  /** Logged with the "shutting down" line. */
  readonly details?: Record<string, unknown>;
  /** On a second stop signal, before exiting: end what would outlive us (workers). */
  readonly kill?: () => void;
  /** SIGHUP: reload the config (it logs its own outcome). Absent: logged and ignored; null: ignored (a worker). */
  readonly reload?: (() => Promise<unknown>) | null;
}

/** Installs the process's stop and crash handlers. */
export function handleStopSignals(options: StopOptions): void {
  const { logger, flush } = options;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // At once: the line may be lost, a hung drain may not keep the process.
      logger.warn({ signal }, 'second signal: exiting now');
      options.kill?.();
      process.exit(1);
    }
    stopping = true;
    // Listeners close synchronously inside shutdown() (after timeouts.grace, if set): log
    // after, so without a grace "shutting down" means they are closed.
    const done = options.shutdown();
    logger.info({ signal, ...options.details }, 'shutting down');
    done.then(
      async () => {
        logger.info('stopped');
        await flush();
        process.exit(0);
      },
      async (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        await flush();
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // SIGHUP must never kill the process, whatever the reload does.
  process.on('SIGHUP', () => {
    if (stopping || options.reload === null) return;
    if (!options.reload) return logger.warn('SIGHUP: no reload here; still running on the loaded config');
    logger.info({ signal: 'SIGHUP' }, 'reloading');
    options.reload().catch((err: unknown) => logger.error({ err }, 'reload failed'));
  });
  process.on('uncaughtException', (err) => {
    // One bad client or server must never stop the process: log and keep serving.
    logger.error({ err }, 'uncaught exception');
  });
}
