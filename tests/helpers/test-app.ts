import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express, Router } from 'express';
import { LogCapture } from '../../harness/log-capture';
import { createApp } from '../../src/app';
import { composeServer, type ComposeOptions, type ServerRoot } from '../../src/composition/root';
import { loadConfig } from '../../src/config';
import type { Database } from '../../src/db/database';
import type { StatusProvider } from '../../src/health/status-provider';
import type { ReplyViolation } from '../../src/http/reply-check';
import { GENEROUS_LIMITS } from './limits';
import { pgliteTemplateDir } from './pglite-template';

/** The real app on the real composition root, with what a test needs to look inside. */
export interface TestApp extends Pick<
  ServerRoot,
  'config' | 'db' | 'redis' | 'metrics' | 'logger'
> {
  app: Express;
  root: ServerRoot;
  /** Every log line written so far, parsed. */
  logs: Array<Record<string, unknown>>;
  /** Flips the app into shutdown mode, as SIGTERM would. */
  startShutdown(): void;
  close(): Promise<void>;
}

export interface TestAppOptions {
  statusProviders?: readonly StatusProvider[];
  /** Routers built from the app's database, mounted as `AppOptions.extraRouters`. */
  extraRouters?: (db: Database) => readonly Router[];
  /** Wraps the password hasher (see ComposeOptions.wrapPasswordHasher). */
  wrapPasswordHasher?: ComposeOptions['wrapPasswordHasher'];
  /** Drops the work requests leave for after their reply (see ComposeOptions.dropAfterReplyWork). */
  dropAfterReplyWork?: boolean;
}

const violations: ReplyViolation[] = [];

/**
 * The replies, since the last call, that did not match their route's declaration. The
 * integration tier's setup fails every test that leaves one (integration.setup.ts).
 */
export function takeReplyViolations(): ReplyViolation[] {
  return violations.splice(0);
}

/**
 * The real app, built by the same composition root as the server, over its own embedded
 * database (a copy of the migrated template), with logs captured in memory and every API reply
 * checked against its route's declaration. Each call is isolated: its own data folder, database,
 * secrets and metrics. A `REDIS_URL` in `env` connects the real Redis client to it.
 */
export async function createTestApp(
  env: Record<string, string> = {},
  options: TestAppOptions = {},
): Promise<TestApp> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'test-app-'));
  cpSync(pgliteTemplateDir(), path.join(dataDir, 'pglite'), { recursive: true });
  const loaded = loadConfig({
    env: { NODE_ENV: 'test', DATA_DIR: dataDir, LOG_LEVEL: 'debug', ...GENEROUS_LIMITS, ...env },
    envFile: false,
  });
  const logs = new LogCapture();
  const root = await composeServer(loaded, {
    logDestination: logs.stream(),
    clusterWorker: false,
    // The template is migrated already: skip loading the migration engine in every file.
    migrateEmbedded: false,
    ...(options.wrapPasswordHasher ? { wrapPasswordHasher: options.wrapPasswordHasher } : {}),
    ...(options.dropAfterReplyWork ? { dropAfterReplyWork: true } : {}),
  });
  const app = createApp(root, {
    extraRouters: options.extraRouters?.(root.db),
    statusProviders: options.statusProviders ?? [],
    onReplyViolation: (violation) => violations.push(violation),
  });
  return {
    app,
    root,
    config: root.config,
    db: root.db,
    redis: root.redis,
    metrics: root.metrics,
    logger: root.logger,
    logs: logs.lines,
    startShutdown: () => root.beginShutdown(),
    async close() {
      await root.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
