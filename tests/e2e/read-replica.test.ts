import { migrate } from '../../harness/app-server';
import { login, register, type Account } from '../../harness/auth-api';
import { eventually } from '../../harness/eventually';
import { request } from '../../harness/http-client';
import {
  createDatabase,
  startPostgres,
  withClient,
  type Database,
  type PostgresServer,
} from '../../harness/postgres';
import { startReplica } from '../../harness/postgres-replica';
import { startApp, type AppProcess } from '../helpers/built-app';

const STATEMENTS = 'shared_preload_libraries=pg_stat_statements';

interface Ready {
  status: string;
  checks: Array<{ name: string; status: string; critical: boolean }>;
}

/** The URL of the same database on another server of the pair. */
const onPort = (url: string, port: number) => {
  const moved = new URL(url);
  moved.port = String(port);
  return moved.toString();
};

describe('reads that tolerate lag, on a real streaming replica', () => {
  let primary: PostgresServer;
  let replica: PostgresServer;
  let database: Database;
  let replicaUrl: string;
  let app: AppProcess;

  /**
   * How many times the replica has run a query that reads the sessions table (the pattern is
   * spelled with chr(34) so that this query, also recorded, does not count itself).
   */
  const sessionReadsOnReplica = () =>
    withClient(replicaUrl, async (client) => {
      const { rows } = await client.query<{ calls: number }>(
        `SELECT coalesce(sum(calls), 0)::int AS calls FROM pg_stat_statements
          WHERE query ILIKE 'SELECT%' AND query LIKE '%' || chr(34) || 'sessions' || chr(34) || '%'`,
      );
      return rows[0]!.calls;
    });

  const sessions = async (account: Account) => {
    const reply = await request(`${app.url}/api/auth/sessions`, {
      headers: { Authorization: `Bearer ${account.accessToken}` },
    });
    expect(reply.status).toBe(200);
    return (reply.body as { sessions: unknown[] }).sessions;
  };
  const readiness = async () =>
    (await request(`${app.url}/health/ready`)) as { status: number; body: Ready };

  beforeAll(async () => {
    primary = await startPostgres({ settings: [STATEMENTS] });
    database = await createDatabase(primary.adminUrl);
    await migrate(database.url);
    await withClient(database.url, (client) =>
      client.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements'),
    );
    replica = await startReplica(primary, { settings: [STATEMENTS] });
    replicaUrl = onPort(database.url, replica.port);
    await eventually(
      () =>
        withClient(replicaUrl, (client) =>
          client.query('SELECT 1 FROM pg_stat_statements LIMIT 1'),
        ),
      { describe: 'the replica to have replayed the database and its extension' },
    );
    app = await startApp({
      env: { DATABASE_URL: database.url, DATABASE_READ_URL: replicaUrl },
    });
  });
  afterAll(async () => {
    await app?.stop();
    replica?.destroy();
    primary?.destroy();
  });

  it('reads the session list from the replica, and a user reads their own writes at once', async () => {
    const before = await sessionReadsOnReplica();
    // Written on the primary, listed right after: the new session is there.
    const account = await register(app.url, { label: 'replica' });
    expect(await sessions(account)).toHaveLength(1);
    await login(app.url, account.email);
    expect(await sessions(account)).toHaveLength(2);
    // Those two reads came right after their writes: the replica may not have had them yet (this
    // primary runs with synchronous_commit=off, so WAL reaches it up to wal_writer_delay later),
    // and then they were answered by the primary. Once it has replayed them, reads go to it.
    const written = await withClient(database.url, async (client) => {
      const { rows } = await client.query<{ lsn: string }>(
        'SELECT pg_current_wal_insert_lsn()::text AS lsn',
      );
      return rows[0]!.lsn;
    });
    await eventually(
      () =>
        withClient(replicaUrl, async (client) => {
          const { rows } = await client.query<{ done: boolean }>(
            'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done',
            [written],
          );
          return rows[0]!.done;
        }),
      { describe: 'the replica to replay the login' },
    );
    expect(await sessions(account)).toHaveLength(2);
    expect(await sessionReadsOnReplica()).toBeGreaterThan(before);
    expect((await readiness()).body.checks).toContainEqual(
      expect.objectContaining({ name: 'databaseReadReplica', status: 'up', critical: false }),
    );
  });

  it('sends the read to the primary while the replica lags behind the write', async () => {
    const account = await register(app.url, { label: 'lagging' });
    await withClient(replica.adminUrl, (client) => client.query('SELECT pg_wal_replay_pause()'));
    try {
      await login(app.url, account.email);
      const before = await sessionReadsOnReplica();
      // The replica has not replayed the new session: it is not asked.
      expect(await sessions(account)).toHaveLength(2);
      expect(await sessionReadsOnReplica()).toBe(before);
    } finally {
      await withClient(replica.adminUrl, (client) => client.query('SELECT pg_wal_replay_resume()'));
    }
    const before = await sessionReadsOnReplica();
    await eventually(
      async () =>
        (await sessions(account)).length === 2 && (await sessionReadsOnReplica()) > before,
      {
        describe: 'reads to return to the replica once it has caught up',
      },
    );
  });

  it('falls back to the primary when the replica goes down, reports degraded, and returns to it', async () => {
    const account = await register(app.url, { label: 'replica-down' });
    replica.stop();
    try {
      expect(await sessions(account)).toHaveLength(1);
      await login(app.url, account.email);
      expect(await sessions(account)).toHaveLength(2);
      const ready = await eventually(readiness, {
        describe: '/health/ready to report the replica down',
        until: (reply) => reply.body.status === 'degraded',
      });
      expect(ready.status).toBe(200);
      expect(ready.body.checks).toContainEqual(
        expect.objectContaining({ name: 'databaseReadReplica', status: 'down', critical: false }),
      );
    } finally {
      replica.start();
    }
    await eventually(async () => (await readiness()).body.status, {
      describe: '/health/ready to be ok again',
      until: (status) => status === 'ok',
    });
    const before = await sessionReadsOnReplica();
    await eventually(
      async () =>
        (await sessions(account)).length === 2 && (await sessionReadsOnReplica()) > before,
      {
        describe: 'reads to return to the replica',
      },
    );
  });
});
