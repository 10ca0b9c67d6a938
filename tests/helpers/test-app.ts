import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Express } from 'express';
import { createApp } from '../../src/app';
import { loadConfig, type Config } from '../../src/config';
import { openDatabase, type Database } from '../../src/db/database';
import { createLogger, type Logger } from '../../src/logger';
import { GENEROUS_LIMITS } from './limits';
import { pgliteTemplateDir } from './pglite-template';

export interface TestApp {
  app: Express;
  config: Config;
  db: Database;
  logger: Logger;
  /** Every log line written so far, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Flips the app into shutdown mode, as SIGTERM would. */
  startShutdown(): void;
  close(): Promise<void>;
}

/**
 * The real app over its own embedded database (a copy of the migrated template), with logs
 * captured in memory. Each call is isolated: its own data folder, database, and secrets.
 */
export async function createTestApp(env: Record<string, string> = {}): Promise<TestApp> {
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
  let shuttingDown = false;
  const app = createApp({ config, logger, db, isShuttingDown: () => shuttingDown });
  return {
    app,
    config,
    db,
    logger,
    logs,
    startShutdown: () => {
      shuttingDown = true;
    },
    async close() {
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
