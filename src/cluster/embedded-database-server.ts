import path from 'node:path';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { Config } from '../config';
import { openEmbeddedPostgres } from '../db/embedded-database';
import { applyMigrations } from '../db/migration-engine';
import type { Logger } from '../logger';

/** The embedded database, served to the cluster's workers. */
export interface EmbeddedDatabaseServer {
  /** A PostgreSQL URL for the workers' DATABASE_URL. */
  url: string;
  close(): Promise<void>;
}

/**
 * Cluster mode without DATABASE_URL: only one process may open the embedded database, so the
 * primary opens it, migrates it, and serves it on a loopback port over PostgreSQL's wire
 * protocol (PGlite's socket server). Workers then connect as to any PostgreSQL server, through
 * the same driver adapter as in production. The socket server runs queries one at a time and
 * keeps a connection's transaction to itself until it ends, so concurrent workers cannot
 * interleave inside each other's transactions.
 */
export async function serveEmbeddedDatabase(
  config: Config,
  logger: Logger,
): Promise<EmbeddedDatabaseServer> {
  const dataDir = path.join(config.dataDir, 'pglite');
  const embedded = await openEmbeddedPostgres({ dataDir });
  try {
    const applied = await applyMigrations(embedded.adapterFactory, logger);
    if (applied.length > 0) logger.info({ migrations: applied }, 'applied migrations');
    const server = new PGLiteSocketServer({
      db: embedded.pglite,
      host: '127.0.0.1',
      port: 0,
      // Every worker's pool, with room for reloads (old and new workers overlap briefly).
      maxConnections: config.cluster.maxWorkers * config.database.poolSize * 2 + 8,
    });
    await server.start();
    const port = Number(server.getServerConn().split(':').at(-1));
    logger.info(
      { dataDir, port },
      'cluster on the embedded database: the primary serves it to the workers on a loopback port (set DATABASE_URL to use PostgreSQL)',
    );
    return {
      url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
      async close() {
        await server.stop();
        await embedded.close();
      },
    };
  } catch (error) {
    await embedded.close();
    throw error;
  }
}
