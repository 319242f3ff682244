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
}

/** Installs the process's stop and crash handlers. */
export function handleStopSignals(options: StopOptions): void {
  const { logger, flush } = options;
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      // At once: the line may be lost, a hung drain may not keep the process.
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    // Listeners close synchronously inside shutdown(): log after, so "shutting down" means it.
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
  // Hot reload lands with the operations issue; until then SIGHUP must not kill the process.
  process.on('SIGHUP', () => logger.warn('SIGHUP: reload is not implemented yet; still running on the loaded config'));
  process.on('uncaughtException', (err) => {
    // One bad client or server must never stop the process: log and keep serving.
    logger.error({ err }, 'uncaught exception');
  });
}
