import path from 'node:path';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import type { Config } from '../config';
import { PrismaClient } from '../generated/prisma/client';
import type { Logger } from '../logger';
import { openEmbeddedPostgres } from './embedded-database';
import { applyMigrations } from './migration-engine';

export { PrismaClient } from '../generated/prisma/client';

/** The database a process talks to, whichever kind it is. */
export interface Database {
  readonly prisma: PrismaClient;
  /** `postgresql` for a server at DATABASE_URL, `embedded` for PGlite in this process. */
  readonly kind: 'postgresql' | 'embedded';
  /** A short description for logs, without credentials. */
  readonly description: string;
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>;
  /** Applies pending migrations from prisma/migrations; returns the names applied. */
  applyMigrations(logger?: Logger): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * Connects to PostgreSQL at `DATABASE_URL`, or opens the embedded database (PGlite) under the
 * data folder when it is unset. Opening never migrates: the caller decides (see server.ts).
 */
export async function openDatabase(config: Config): Promise<Database> {
  if (config.database.url) {
    const url = new URL(config.database.url);
    const adapterFactory = new PrismaPg({
      connectionString: config.database.url,
      max: config.database.poolSize,
      // Fail fast when the server is unreachable instead of queueing requests behind a dead pool.
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
    });
    return wrap(
      adapterFactory,
      'postgresql',
      `PostgreSQL at ${url.host}${url.pathname}`,
      async () => {},
    );
  }
  const dataDir = path.join(config.dataDir, 'pglite');
  const embedded = await openEmbeddedPostgres({ dataDir });
  return wrap(
    embedded.adapterFactory,
    'embedded',
    `embedded PostgreSQL (PGlite) in ${dataDir}`,
    () => embedded.close(),
  );
}

function wrap(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  kind: Database['kind'],
  description: string,
  closeDriver: () => Promise<void>,
): Database {
  const prisma = new PrismaClient({ adapter: adapterFactory });
  return {
    prisma,
    kind,
    description,
    async ping() {
      await prisma.$queryRaw`SELECT 1`;
    },
    applyMigrations: (logger) => applyMigrations(adapterFactory, logger),
    async close() {
      try {
        await prisma.$disconnect();
      } finally {
        await closeDriver();
      }
    },
  };
}
