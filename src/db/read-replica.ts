import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../generated/prisma/client';
import type { Logger } from '../logger';
import { isDatabaseUnavailableError } from './database-errors';

/**
 * Where reads that tolerate replication lag run. Repositories take one and pass every such read
 * through it; everything else (sign-in, rotation, the revocation check, every write) keeps
 * using the primary's client directly.
 */
export interface LagTolerantReads {
  /** Runs `query` on the read replica when it may, on the primary otherwise. */
  read<T>(query: (client: PrismaClient) => Promise<T>): Promise<T>;
}

/** Every read on the primary: what a process without `DATABASE_READ_URL` uses. */
export const primaryReads = (primary: PrismaClient): LagTolerantReads => ({
  read: (query) => query(primary),
});

/** What `/health/metrics` shows of the replica, under `databaseReadReplica`. */
export interface ReadReplicaState {
  status: 'up' | 'down';
  /** Set while down: when reads left the replica (ISO 8601). */
  downSince?: string;
  /** Reads served by the replica since start. */
  replicaReads: number;
  /** Reads sent to the primary because the replica had not replayed far enough yet. */
  lagFallbacks: number;
  /** Reads sent to the primary because the replica failed or was known to be down. */
  failureFallbacks: number;
}

export interface ReadReplica extends LagTolerantReads {
  /** Resolves when the replica answers a trivial query (for `/health/ready`). */
  ping(): Promise<void>;
  state(): ReadReplicaState;
  close(): Promise<void>;
}

export interface ReadReplicaOptions {
  url: string;
  poolSize: number;
  primary: PrismaClient;
  logger: Logger;
  /** After a failure, reads stay on the primary this long before the replica is tried again. */
  retryAfterMs?: number;
}

/**
 * A streaming replica of the primary, for reads that tolerate lag, that never serves a client
 * older data than the primary would have at the moment the read began: so a user always reads
 * their own writes, whichever app process took the write.
 *
 * Each read first asks the primary for its current WAL position (`pg_current_wal_insert_lsn()`:
 * past every commit record, even one `synchronous_commit = off` has not written yet, which
 * `pg_current_wal_lsn()` can miss; no table touched; concurrent reads share one such query,
 * provided it was sent after they began),
 * then the replica whether it has replayed that far. If it has, the read runs there; if it lags,
 * or fails, or failed less than `retryAfterMs` ago, the read runs on the primary. The replica
 * is never required: when it is down, reads go to the primary and `/health/ready` says
 * `degraded`.
 */
export function openReadReplica({
  url,
  poolSize,
  primary,
  logger,
  retryAfterMs = 1_000,
}: ReadReplicaOptions): ReadReplica {
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    // A dead replica must cost a read little: it then goes to the primary.
    connectionTimeoutMillis: 1_000,
    idleTimeoutMillis: 30_000,
  });
  // An idle connection that breaks (the replica restarts) is reported here, not thrown.
  pool.on('error', (error) => markDown(error));
  const replica = new PrismaClient({ adapter: new PrismaPg(pool) });
  const counts = { replicaReads: 0, lagFallbacks: 0, failureFallbacks: 0 };
  let downSince: Date | undefined;
  let retryAt = 0;

  function markDown(error: unknown): void {
    retryAt = Date.now() + retryAfterMs;
    if (downSince) return;
    downSince = new Date();
    logger.warn(
      { err: error },
      'database read replica unavailable: lag-tolerant reads go to the primary until it answers again',
    );
  }
  function markUp(): void {
    if (!downSince) return;
    logger.info(
      { downForMs: Date.now() - downSince.getTime() },
      'database read replica is back: lag-tolerant reads go to it again',
    );
    downSince = undefined;
  }

  const primaryPosition = coalesced(async () => {
    const rows = await primary.$queryRaw<Array<{ lsn: string }>>`
      SELECT pg_current_wal_insert_lsn()::text AS lsn`;
    return rows[0]!.lsn;
  });

  return {
    async read(query) {
      if (downSince && Date.now() < retryAt) {
        counts.failureFallbacks += 1;
        return query(primary);
      }
      // The primary's position first: a failure here is the primary's, and the read's too.
      const position = await primaryPosition();
      let caughtUp: boolean;
      try {
        const { rows } = await pool.query<{ caught_up: boolean }>(
          'SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) AS caught_up',
          [position],
        );
        caughtUp = rows[0]!.caught_up;
      } catch (error) {
        markDown(error);
        counts.failureFallbacks += 1;
        return query(primary);
      }
      markUp();
      if (!caughtUp) {
        counts.lagFallbacks += 1;
        return query(primary);
      }
      try {
        const result = await query(replica);
        counts.replicaReads += 1;
        return result;
      } catch (error) {
        // A read may be retried anywhere: the primary answers it (a replica can also cancel a
        // query that conflicts with replay, which is no outage).
        if (isDatabaseUnavailableError(error)) markDown(error);
        counts.failureFallbacks += 1;
        return query(primary);
      }
    },
    async ping() {
      await pool.query('SELECT 1');
    },
    state: () => ({
      status: downSince ? 'down' : 'up',
      ...(downSince ? { downSince: downSince.toISOString() } : {}),
      ...counts,
    }),
    async close() {
      try {
        await replica.$disconnect();
      } finally {
        await pool.end();
      }
    },
  };
}

/**
 * `fetch`, shared by concurrent callers, but never answered from a call that began before the
 * caller did: a caller arriving while a call is in flight waits for the next one, which starts
 * when the current one ends. Under load this is one primary query per round trip, not per read.
 */
export function coalesced<T>(fetch: () => Promise<T>): () => Promise<T> {
  let current: Promise<T> | undefined;
  let next: Promise<T> | undefined;
  const start = (): Promise<T> => {
    current = fetch().finally(() => {
      current = undefined;
    });
    return current;
  };
  return () => {
    if (!current) return start();
    next ??= current
      .catch(() => undefined)
      .then(() => {
        next = undefined;
        return start();
      });
    return next;
  };
}
