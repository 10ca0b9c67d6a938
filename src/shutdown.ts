import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from './logger';

/** Repeats of a signal within this window are deliveries of the same request. */
const DUPLICATE_SIGNAL_WINDOW_MS = 500;

export interface ShutdownOptions {
  server: Server;
  logger: Logger;
  /** The whole shutdown, drain delay included, must finish within this, or the process exits 1. */
  timeoutMs: number;
  /**
   * How long to keep serving after readiness starts failing, before the listener closes: the
   * time load balancers need to notice the 503 and stop sending new requests here.
   */
  drainDelayMs: number;
  /** Called first, synchronously: readiness starts failing at once. */
  onStart: () => void;
  /** Releases dependencies (database, Redis, timers) once no request is in flight. */
  closeDependencies: () => Promise<void>;
  /** Ends the process; injectable for tests. */
  exit?: (code: number) => void;
}

/** How often idle connections are swept once the listener is closed (see stopServing). */
const IDLE_SWEEP_MS = 50;

/**
 * The one shutdown path for signals and fatal errors, raced against a timer:
 * 1. readiness fails at once (`onStart`), and every response from now on carries
 *    `Connection: close`, so clients and proxies reconnect, to another instance;
 * 2. the instance keeps serving for `drainDelayMs`, while load balancers notice;
 * 3. the listener closes (new connections are refused), idle keep-alive connections close,
 *    in-flight requests finish;
 * 4. dependencies close;
 * 5. the process exits 0, or 1 after a fatal error, a timeout, a failure, or a second signal.
 *
 * @returns a function that starts shutdown; calling it again forces exit 1.
 */
export function createShutdown({
  server,
  logger,
  timeoutMs,
  drainDelayMs,
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
    logger.info({ reason, drainDelayMs, timeoutMs }, 'shutting down');
    onStart();
    // Prepended, so it runs before the app writes anything. Added only now: no cost per request
    // until shutdown begins.
    server.prependListener('request', (_req, res) => res.setHeader('Connection', 'close'));
    const timer = setTimeout(() => {
      logger.error({ timeoutMs }, 'shutdown timed out: exiting with in-flight work');
      exit(1);
    }, timeoutMs);
    timer.unref();

    stopServing(server, drainDelayMs, logger)
      .then(closeDependencies)
      .then(
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

/** Waits out the drain delay, then closes the listener and waits for every connection to end. */
async function stopServing(server: Server, drainDelayMs: number, logger: Logger): Promise<void> {
  if (drainDelayMs > 0) await sleep(drainDelayMs);
  logger.info('drain delay over: refusing new connections, finishing in-flight requests');
  await new Promise<void>((resolve, reject) => {
    // A keep-alive connection that is busy when the listener closes turns idle once its response
    // is sent, and Node (20 at least) then keeps it open until keepAliveTimeout expires: 65 s
    // here. Sweeping idle connections until the server has closed ends each one as it turns idle.
    const sweeper = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
    sweeper.unref();
    server.close((error) => {
      clearInterval(sweeper);
      if (error) reject(error);
      else resolve();
    });
    server.closeIdleConnections();
  });
}
