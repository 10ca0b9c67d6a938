import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Express, Router } from 'express';
import { createApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { openDatabase, type Database } from '../../src/db/database';
import type { StatusProvider } from '../../src/health/status-provider';
import { createLogger, type Logger } from '../../src/logger';
import { GENEROUS_LIMITS } from './limits';

import { startEventLoopMonitor } from '../../src/metrics/event-loop-monitor';
import { createMetrics, type Metrics } from '../../src/metrics/metrics';
import { createRedisClient, type Redis } from '../../src/redis/redis-client';
import { pgliteTemplateDir } from './pglite-template';

export interface TestApp {
  app: Express;
  config: Config;
  db: Database;
  redis: Redis | undefined;
  metrics: Metrics;
  logger: Logger;
  /** Every log line written so far, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Flips the app into shutdown mode, as SIGTERM would. */
  startShutdown(): void;
  close(): Promise<void>;
}

export interface TestAppOptions {
  statusProviders?: readonly StatusProvider[];
  /** Routers built from the app's database, mounted as `AppDeps.extraRoutes`. */
  extraRoutes?: (db: Database) => readonly Router[];
}

/**
 * The real app over its own embedded database (a copy of the migrated template), with logs
 * captured in memory. Each call is isolated: its own data folder, database, secrets and metrics.
 * A `REDIS_URL` in `env` connects the real Redis client to it.
 */
export async function createTestApp(
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'test-app-'));
  cpSync(pgliteTemplateDir(), path.join(dataDir, 'pglite'), { recursive: true });
  const { config } = loadConfig({
    env: { NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'debug', ...GENEROUS_LIMITS, ...env },
    envFile: false,
  });
  const logs: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      }
      callback();
    },
  });
  const logger = createLogger({
    level: config.log.level,
    instanceId: config.instanceId,
    destination,
  });
  const db = await openDatabase(config);
  const redis = config.redis.url
    ? createRedisClient({ ...config.redis, url: config.redis.url }, logger)
    : undefined;
  const eventLoop = startEventLoopMonitor({
    logger,
    warnThresholdMs: config.eventLoop.delayThresholdMs,
    windowMs: config.eventLoop.windowMs,
  });
  const metrics = createMetrics({ eventLoop });
  let shuttingDown = false;
  const app = createApp({
    config,
    logger,
    db,
    redis,
    metrics,
    isShuttingDown: () => shuttingDown,
    statusProviders: options.statusProviders,
    extraRoutes: options.extraRoutes?.(db),
  });
  return {
    app,
    config,
    db,
    redis,
    metrics,
    logger,
    logs,
    startShutdown: () => {
      shuttingDown = true;
    },
    async close() {
      eventLoop.stop();
      redis?.disconnect();
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
