import type { Server } from 'node:http';
import type { Logger } from './logger';

/** Repeats of a signal within this window are deliveries of the same request. */
const DUPLICATE_SIGNAL_WINDOW_MS = 500;

export interface ShutdownOptions {
  server: Server;
  logger: Logger;
  /** The whole shutdown must finish within this, or the process exits 1. */
  timeoutMs: number;
  /** Called first, synchronously: readiness starts failing at once. */
  onStart: () => void;
  /** Releases dependencies (database, Redis) once no request is in flight. */
  closeDependencies: () => Promise<void>;
  /** Ends the process; injectable for tests. */
  exit?: (code: number) => void;
}

/**
 * The one shutdown path for signals and fatal errors, raced against a timer:
 * readiness fails, the server stops accepting connections and closes idle keep-alive ones,
 * in-flight requests finish, dependencies close, and the process exits (0, or 1 after a fatal
 * error, a timeout, or a second signal).
 *
 * @returns a function that starts shutdown; calling it again forces exit 1.
 */
export function createShutdown({
  server,
  logger,
  timeoutMs,
  onStart,
  closeDependencies,
  exit = (code) => process.exit(code),
}: ShutdownOptions): (reason: string, exitCode?: number) => void {
  let startedAt: number | undefined;
  return function shutdown(reason, exitCode = 0) {
    if (startedAt !== undefined) {
      // Ctrl-C signals the whole process group, and supervisors (pnpm, tsx watch) relay the
      // same signal: copies that arrive together are one request, not an operator insisting.
      if (performance.now() - startedAt < DUPLICATE_SIGNAL_WINDOW_MS) return;
      logger.warn({ reason }, 'second shutdown request: exiting now');
      exit(1);
      return;
    }
    startedAt = performance.now();
    logger.info({ reason, timeoutMs }, 'shutting down');
    onStart();
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown timed out: exiting with in-flight work');
      exit(1);
    }, timeoutMs);
    timer.unref();

    const closed = new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      // Idle keep-alive sockets would otherwise hold close() open until they time out;
      // busy ones close as soon as their response is written.
      server.closeIdleConnections();
    });
    closed.then(closeDependencies).then(
      () => {
        clearTimeout(timer);
        logger.info('shutdown complete');
        exit(exitCode);
      },
      (error: unknown) => {
        clearTimeout(timer);
        logger.error({ err: error }, 'shutdown failed');
        exit(1);
      },
    );
  };
}
