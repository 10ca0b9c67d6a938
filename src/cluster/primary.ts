import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { LoadedConfig } from '../config';
import { createLogger } from '../logger';
import { monitorMemoryIfEnabled } from '../metrics/memory-monitor';
import { setUpRateLimitClusterPrimary } from '../rate-limit/cluster-primary';
import { serveClusterMetrics } from './cluster-metrics';
import { serveEmbeddedDatabase, type EmbeddedDatabaseServer } from './embedded-database-server';
import { RECYCLE_MESSAGE } from './worker-memory-limit';
import { WorkerPool } from './worker-pool';

/** Repeats of a signal within this window are deliveries of the same request (see shutdown.ts). */
const DUPLICATE_SIGNAL_WINDOW_MS = 500;

/**
 * The cluster primary: it runs no HTTP server and does no request work. It forks the workers
 * (each runs the same server as `pnpm start`), replaces them when they die, reloads them one by
 * one on SIGHUP or SIGUSR2, and drains them all on SIGTERM or SIGINT.
 *
 * It also holds what must be one per machine: the rate limit counts when there is no Redis, the
 * embedded database when there is no DATABASE_URL, and the merging of the workers' metrics.
 */
export async function runPrimary({ config, warnings }: LoadedConfig): Promise<void> {
  const logger = createLogger({ level: config.log.level, instanceId: config.instanceId }).child({
    role: 'primary',
  });
  for (const warning of warnings) logger.warn(warning);

  let database: EmbeddedDatabaseServer | undefined;
  if (!config.database.url) {
    database = await serveEmbeddedDatabase(config, logger).catch((error: unknown) => {
      logger.fatal({ err: error }, 'could not open the embedded database');
      process.exit(1);
    });
  }
  setUpRateLimitClusterPrimary(config);
  serveClusterMetrics();
  const memoryMonitor = monitorMemoryIfEnabled(config.memory, logger);

  if (config.cluster.maxOldSpaceMb > 0) {
    cluster.setupPrimary({
      execArgv: [...process.execArgv, `--max-old-space-size=${config.cluster.maxOldSpaceMb}`],
    });
  }

  let exiting = false;
  const exit = async (code: number) => {
    if (exiting) return;
    exiting = true;
    memoryMonitor?.stop();
    await database
      ?.close()
      .catch((error: unknown) =>
        logger.error({ err: error }, 'closing the embedded database failed'),
      );
    logger.info({ code }, 'cluster stopped');
    process.exit(code);
  };

  const pool = new WorkerPool({
    size: config.cluster.maxWorkers,
    env: {
      ...(database ? { DATABASE_URL: database.url } : {}),
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

  cluster.on('message', (worker: Worker, message: unknown) => {
    if ((message as { type?: unknown } | null)?.type === RECYCLE_MESSAGE) {
      logger.warn(
        { workerPid: worker.process.pid, message },
        'worker over its memory limit: replacing it',
      );
      void pool.replace(worker, 'memory limit');
    }
  });

  let stopRequestedAt: number | undefined;
  const stop = (signal: string) => {
    if (stopRequestedAt !== undefined) {
      if (performance.now() - stopRequestedAt < DUPLICATE_SIGNAL_WINDOW_MS) return;
      logger.warn({ signal }, 'second stop request: killing the workers');
      pool.kill();
      void exit(1);
      return;
    }
    stopRequestedAt = performance.now();
    logger.info({ signal, workerPids: pool.pids() }, 'stopping: draining every worker');
    void pool.stop().then((clean) => exit(clean ? 0 : 1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  for (const signal of ['SIGHUP', 'SIGUSR2'] as const) {
    process.on(signal, () => {
      if (stopRequestedAt === undefined) void pool.reload(signal);
    });
  }

  logger.info(
    {
      workers: config.cluster.maxWorkers,
      database: database ? 'embedded, served by the primary' : 'DATABASE_URL',
      rateLimits: config.redis.url ? 'Redis (per fleet)' : "the primary's memory (per machine)",
    },
    'cluster primary started: SIGHUP or SIGUSR2 reloads the workers one by one, SIGTERM drains them',
  );
  pool.start();
}
