import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import { composePrimary, StartupError } from '../composition/root';
import type { LoadedConfig } from '../config';
import { installProcessLifecycle } from '../process/lifecycle';
import { RECYCLE_MESSAGE } from './worker-memory-limit';
import { WorkerPool } from './worker-pool';

/**
 * The cluster primary: it runs no HTTP server and does no request work. It forks the workers
 * (each runs the same server as `pnpm start`), replaces them when they die, reloads them one by
 * one on SIGHUP or SIGUSR2, and drains them all on SIGTERM or SIGINT. What it holds for the
 * machine comes from its composition root (composePrimary).
 *
 * @returns the exit code once the cluster has stopped: 0 when every worker drained in time.
 */
export async function runPrimary(loaded: LoadedConfig): Promise<number> {
  let root;
  try {
    root = await composePrimary(loaded);
  } catch (error) {
    if (error instanceof StartupError) return 1; // already logged
    throw error;
  }
  const { config, logger, embeddedDatabaseUrl } = root;

  if (config.cluster.maxOldSpaceMb > 0) {
    cluster.setupPrimary({
      execArgv: [...process.execArgv, `--max-old-space-size=${config.cluster.maxOldSpaceMb}`],
    });
  }

  let exited: (code: number) => void = () => {};
  const exitCode = new Promise<number>((resolve) => (exited = resolve));
  let exiting = false;
  const exit = async (code: number) => {
    if (exiting) return;
    exiting = true;
    lifecycle.uninstall();
    pool.close();
    cluster.off('message', onWorkerMessage);
    await root.close();
    logger.info({ code }, 'cluster stopped');
    exited(code);
  };

  const pool = new WorkerPool({
    size: config.cluster.maxWorkers,
    env: {
      // PGlite serves every connection from one session: a named prepared statement made on one
      // connection would collide with the same name made on another.
      ...(embeddedDatabaseUrl
        ? { DATABASE_URL: embeddedDatabaseUrl, DATABASE_PREPARED_STATEMENTS: 'false' }
        : {}),
      // Every worker hashes passwords on its own threads: share the cores out among them, one
      // left for the event loops, rather than each worker taking all but one.
      PASSWORD_HASH_CONCURRENCY: String(
        config.auth.passwordHashConcurrency ??
          Math.max(1, Math.floor((availableParallelism() - 1) / config.cluster.maxWorkers)),
      ),
    },
    logger,
    readyTimeoutMs: 60_000,
    // The worker's own shutdown (drain delay included) is bounded by SHUTDOWN_TIMEOUT_MS; a
    // little more here lets it report its own timeout before being killed.
    stopTimeoutMs: config.shutdown.timeoutMs + 2_000,
    crashLoop: { minUptimeMs: 5_000, limit: 5, baseDelayMs: 250, maxDelayMs: 10_000 },
    onCrashLoop: () => {
      void pool.stop().then(() => exit(1));
    },
  });

  const onWorkerMessage = (worker: Worker, message: unknown) => {
    if ((message as { type?: unknown } | null)?.type === RECYCLE_MESSAGE) {
      logger.warn(
        { workerPid: worker.process.pid, message },
        'worker over its memory limit: replacing it',
      );
      void pool.replace(worker, 'memory limit');
    }
  };
  cluster.on('message', onWorkerMessage);

  const reload = (signal: string) => {
    if (!lifecycle.stopping) void pool.reload(signal);
  };
  const lifecycle = installProcessLifecycle({
    logger,
    stop: (signal, code) => {
      logger.info({ signal, workerPids: pool.pids() }, 'stopping: draining every worker');
      void pool.stop().then((clean) => exit(clean && code === 0 ? 0 : 1));
    },
    force: (signal) => {
      logger.warn({ signal }, 'second stop request: killing the workers');
      pool.kill();
      void exit(1);
    },
    signals: { SIGHUP: () => reload('SIGHUP'), SIGUSR2: () => reload('SIGUSR2') },
  });

  logger.info(
    {
      workers: config.cluster.maxWorkers,
      database: embeddedDatabaseUrl ? 'embedded, served by the primary' : 'DATABASE_URL',
      rateLimits:
        config.redis.url || config.redis.sentinels
          ? 'Redis (per fleet)'
          : "the primary's memory (per machine)",
    },
    'cluster primary started: SIGHUP or SIGUSR2 reloads the workers one by one, SIGTERM drains them',
  );
  pool.start();
  return exitCode;
}
