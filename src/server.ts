import cluster from 'node:cluster';
import http from 'node:http';
import type { Router } from 'express';
import { type AppDeps, createApp } from './app';
import { createAuthRepository } from './auth/auth.repository';
import { startTokenPurge } from './auth/token-purge';
import { ConfigError, loadConfig } from './config';
import { openDatabase } from './db/database';
import { createLogger } from './logger';
import { startEventLoopMonitor } from './metrics/event-loop-monitor';
import { monitorMemoryIfEnabled } from './metrics/memory-monitor';
import { createMetrics } from './metrics/metrics';
import { createRedisClient } from './redis/redis-client';
import { createShutdown } from './shutdown';
import { clusterMetricsSource } from './cluster/cluster-metrics';
import { runPrimary } from './cluster/primary';
import { watchWorkerMemory } from './cluster/worker-memory-limit';

export interface StartServerOptions {
  /**
   * Routers to add to the app, built from its dependencies (see `AppDeps.extraRoutes`). Only
   * tests pass any: `pnpm start` runs this file directly, with none.
   */
  extraRoutes?: (deps: Pick<AppDeps, 'config' | 'logger' | 'db'>) => readonly Router[];
}

/**
 * One server process: config -> dependencies -> listen -> graceful shutdown.
 * `pnpm start` runs it directly; cluster workers run the same function.
 */
export async function startServer(options: StartServerOptions = {}): Promise<http.Server> {
  const { config, warnings } = loadConfigOrExit();
  const logger = createLogger({ level: config.log.level, instanceId: config.instanceId });
  for (const warning of warnings) logger.warn(warning);

  const db = await openDatabase(config).catch((error: unknown) => {
    logger.fatal({ err: error }, 'could not open the database');
    process.exit(1);
  });
  if (db.kind === 'embedded') {
    // The embedded database belongs to this process, so it is migrated here; a server database
    // is migrated once per deploy (`pnpm db:migrate`), never by each replica as it starts.
    const applied = await db.applyMigrations(logger).catch(async (error: unknown) => {
      logger.fatal({ err: error }, 'could not migrate the embedded database');
      await db.close();
      process.exit(1);
    });
    if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations');
  }
  // The first query loads Prisma's query compiler: pay for it now, not on the first request.
  await db
    .ping()
    .catch((error: unknown) => logger.warn({ err: error }, 'database not reachable yet'));
  const redis = config.redis.url
    ? createRedisClient({ ...config.redis, url: config.redis.url }, logger)
    : undefined;

  const eventLoop = startEventLoopMonitor({
    logger,
    warnThresholdMs: config.eventLoop.delayThresholdMs,
    windowMs: config.eventLoop.windowMs,
  });
  const memoryMonitor = monitorMemoryIfEnabled(config.memory, logger);

  // In a cluster worker, the metrics endpoints describe the whole machine (see cluster-metrics.ts).
  const metrics = createMetrics({
    eventLoop,
    cluster: cluster.isWorker
      ? (registry) => clusterMetricsSource(registry, config.instanceId)
      : undefined,
  });
  const stopMemoryLimit =
    cluster.isWorker && config.cluster.workerMemoryLimitMb > 0
      ? watchWorkerMemory({ limitMb: config.cluster.workerMemoryLimitMb, logger })
      : undefined;

  let shuttingDown = false;
  const app = createApp({
    config,
    logger,
    db,
    redis,
    metrics,
    isShuttingDown: () => shuttingDown,
    extraRoutes: options.extraRoutes?.({ config, logger, db }),
  });
  const server = http.createServer(app);
  // Explicit timeouts rather than Node's defaults:
  // - keep-alive 65 s, longer than nginx's upstream keepalive_timeout (60 s, its default) and an
  //   AWS ALB's idle timeout (60 s): the proxy, not the app, closes idle upstream connections.
  //   The other way round, the proxy can send a request on a socket the app is closing at that
  //   instant, and its client gets a 502. Lower the proxy's timeout, never raise it past this.
  // - headers 66 s, longer than keep-alive, so an idle keep-alive socket is ended by the
  //   keep-alive timer, not mistaken for a client slow to send its headers;
  // - request 30 s: a whole request, body included, must arrive within this (slow-loris).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;

  const stopPurge = startTokenPurge({
    repository: createAuthRepository(db.prisma),
    logger,
    intervalMs: config.auth.purgeIntervalMs,
    refreshTtlSeconds: config.jwt.refreshTtlSeconds,
  });

  const shutdown = createShutdown({
    server,
    logger,
    timeoutMs: config.shutdown.timeoutMs,
    drainDelayMs: config.shutdown.drainDelayMs,
    onStart: () => {
      shuttingDown = true;
    },
    closeDependencies: async () => {
      stopPurge();
      stopMemoryLimit?.();
      eventLoop.stop();
      memoryMonitor?.stop();
      await Promise.allSettled([db.close(), redis?.quit()]);
    },
  });
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  if (cluster.isWorker) {
    // A worker whose primary died (killed, crashed) has no supervisor left: drain and exit.
    process.on('disconnect', () => shutdown('cluster primary gone'));
    // Reload signals are the primary's; a terminal hang-up or a group-wide signal must not
    // kill the workers (Node's default for both is to exit).
    process.on('SIGHUP', () => {});
    process.on('SIGUSR2', () => {});
  }
  process.on('uncaughtException', (error) => {
    logger.fatal({ err: error }, 'uncaught exception');
    shutdown('uncaughtException', 1);
  });
  process.on('unhandledRejection', (reason) => {
    logger.fatal({ err: reason }, 'unhandled promise rejection');
    shutdown('unhandledRejection', 1);
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: unknown) => {
    logger.fatal({ err: error, host: config.host, port: config.port }, 'could not listen');
    process.exit(1);
  });
  const address = server.address();
  logger.info(
    {
      address:
        typeof address === 'object' && address ? `${address.address}:${address.port}` : address,
      env: config.env,
      database: db.description,
      redis: Boolean(redis),
    },
    'server listening',
  );
  return server;
}

/** Loads the configuration, or exits 1 with one readable line per problem. */
export function loadConfigOrExit(): ReturnType<typeof loadConfig> {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // One readable line per problem, no stack: this is an operator's mistake, not a bug.
    for (const problem of error.problems) process.stderr.write(`config error: ${problem}\n`);
    process.exit(1);
  }
}

if (require.main === module) {
  // CLUSTER_MODE=true makes `pnpm start` what `pnpm start:cluster` is (the seeds' contract).
  const loaded = loadConfigOrExit();
  if (loaded.config.cluster.enabled && cluster.isPrimary) {
    void runPrimary(loaded);
  } else {
    void startServer();
  }
}
