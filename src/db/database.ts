import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import type { SqlMigrationAwareDriverAdapterFactory } from '@prisma/driver-adapter-utils';
import pg from 'pg';
import type { Config } from '../config';
import { PrismaClient } from '../generated/prisma/client';
import type { Logger } from '../logger';
import { DatabaseUnavailableError, isSocketError } from './database-errors';
import { openEmbeddedPostgres } from './embedded-database';
import { applyMigrations } from './migration-engine';

export { PrismaClient } from '../generated/prisma/client';

/**
 * One SQL statement of a hot path, sent below Prisma. `name` makes it a named prepared
 * statement on PostgreSQL (parsed and planned once per connection) unless
 * `DATABASE_PREPARED_STATEMENTS=false`.
 */
export interface SqlStatement {
  readonly name: string;
  readonly text: string;
}

/**
 * Runs one statement on the process's own driver: node-postgres's pool (the one Prisma's adapter
 * uses too) or the embedded PGlite. Rows come back as the driver types them (`timestamptz` as a
 * Date, `uuid` and `text` as strings). For the few statements where Prisma's per-statement cost
 * (about 74 us of JavaScript on Node 20) is most of the request: see auth/auth.sql.ts.
 */
export interface SqlRunner {
  query<Row>(statement: SqlStatement, values: readonly unknown[]): Promise<Row[]>;
}

/**
 * Options of every interactive transaction (`prisma.$transaction(async (tx) => ...)`): wait up to
 * 5 s for a connection and run up to 10 s (Prisma's defaults, 2 s and 5 s, turned a busy
 * machine's queue for the embedded database's one connection into 503s).
 */
export const INTERACTIVE_TRANSACTION = { maxWait: 5_000, timeout: 10_000 } as const;

/** The database a process talks to, whichever kind it is. */
export interface Database {
  readonly prisma: PrismaClient;
  /** The hot statements' driver: confined to repositories, like Prisma. */
  readonly sql: SqlRunner;
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
    // One pool for the process: Prisma's adapter borrows it (and never closes a pool it was
    // given), and the hot statements run on it too, so they share `DATABASE_POOL_SIZE`.
    const pool = new pg.Pool({
      connectionString: config.database.url,
      max: config.database.poolSize,
      // Fail fast when the server is unreachable, or every connection stays busy, instead of
      // queueing requests behind a dead pool: the error answers 503 (db/database-errors.ts).
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
    });
    // An idle connection the server dropped (restart, failover) must not crash the process: the
    // pool discards it and the next query opens a new one.
    pool.on('error', () => {});
    const prepared = config.database.preparedStatements;
    return wrap(
      new PrismaPg(pool),
      {
        async query<Row>(statement: SqlStatement, values: readonly unknown[]) {
          try {
            const result = await pool.query({
              ...(prepared ? { name: statement.name } : {}),
              text: statement.text,
              values: [...values],
            });
            return result.rows as Row[];
          } catch (error) {
            throw isSocketError(error) ? new DatabaseUnavailableError(error) : error;
          }
        },
      },
      'postgresql',
      `PostgreSQL at ${url.host}${url.pathname}`,
      () => pool.end(),
    );
  }
  const dataDir = path.join(config.dataDir, 'pglite');
  const embedded = await openEmbeddedPostgres({ dataDir });
  return wrap(
    embedded.adapterFactory,
    pgliteRunner(embedded.pglite),
    'embedded',
    `embedded PostgreSQL (PGlite) in ${dataDir}`,
    () => embedded.close(),
  );
}

/** PGlite runs one query at a time and waits for a running transaction: no pool, no names. */
const pgliteRunner = (pglite: PGlite): SqlRunner => ({
  query: async <Row>(statement: SqlStatement, values: readonly unknown[]) =>
    (await pglite.query<Row>(statement.text, [...values])).rows,
});

function wrap(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  sql: SqlRunner,
  kind: Database['kind'],
  description: string,
  closeDriver: () => Promise<void>,
): Database {
  // `minimal`: the default outside production ("colorless" or "pretty") captures a stack trace
  // on every query to format a possible error, which measured +20-40 us a statement.
  const prisma = new PrismaClient({ adapter: adapterFactory, errorFormat: 'minimal' });
  return {
    prisma,
    sql,
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
