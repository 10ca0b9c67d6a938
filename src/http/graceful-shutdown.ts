import type { Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../logger';

export interface GracefulShutdownOptions {
  server: Server;
  logger: Logger;
  /** The whole shutdown, drain delay included, must finish within this. */
  timeoutMs: number;
  /**
   * How long to keep serving after readiness starts failing, before the listener closes: the
   * time load balancers need to notice the 503 and stop sending new requests here.
   */
  drainDelayMs: number;
  /** Called first, synchronously: readiness starts failing at once. */
  onStart: () => void;
  /**
   * Resolves once no handler is running. Closed connections are not enough: the handler of a
   * request whose client went away may still be awaiting the database.
   */
  handlersIdle: () => Promise<void>;
  /** Releases dependencies (database, Redis, timers) once nothing uses them. */
  closeDependencies: () => Promise<void>;
}

/** How often idle connections are swept once the listener is closed (see stopServing). */
const IDLE_SWEEP_MS = 50;

/**
 * The server's one shutdown path (signals and fatal errors alike), raced against a timer:
 * 1. readiness fails at once (`onStart`), and every response from now on carries
 *    `Connection: close`, so clients and proxies reconnect, to another instance;
 * 2. the instance keeps serving for `drainDelayMs`, while load balancers notice;
 * 3. the listener closes (new connections are refused), idle keep-alive connections close,
 *    in-flight requests finish, and so do handlers whose clients left;
 * 4. dependencies close.
 *
 * @returns a function that runs it (once: a second call returns the first call's promise),
 *   resolving true when it completed, false on a timeout or a failure (both logged). The entry
 *   file turns that into the exit code.
 */
export function createGracefulShutdown({
  server,
  logger,
  timeoutMs,
  drainDelayMs,
  onStart,
  handlersIdle,
  closeDependencies,
}: GracefulShutdownOptions): (reason: string) => Promise<boolean> {
  let running: Promise<boolean> | undefined;
  return (reason) => {
    running ??= run(reason);
    return running;
  };

  async function run(reason: string): Promise<boolean> {
    logger.info({ reason, drainDelayMs, timeoutMs }, 'shutting down');
    onStart();
    // Prepended, so it runs before the app writes anything. Added only now: no cost per request
    // until shutdown begins.
    server.prependListener('request', (_req, res) => res.setHeader('Connection', 'close'));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => {
        logger.error({ timeoutMs }, 'shutdown timed out: exiting with in-flight work');
        resolve(false);
      }, timeoutMs);
      timer.unref();
    });
    const completed = stopServing(server, drainDelayMs, logger)
      .then(handlersIdle)
      .then(closeDependencies)
      .then(
        () => {
          logger.info('shutdown complete');
          return true;
        },
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          return false;
        },
      );
    try {
      return await Promise.race([completed, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }
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
