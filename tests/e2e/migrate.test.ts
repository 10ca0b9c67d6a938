import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { readMigrations } from '../../src/db/migration-engine';
import { BUILT_MIGRATE as MIGRATE } from '../../harness/app-server';
import { createDatabase, withClient, type Database } from '../../harness/postgres';
import { sharedPostgresAdminUrl } from '../helpers/e2e-database';

const run = promisify(execFile);

let database: Database;
beforeAll(async () => {
  database = await createDatabase(sharedPostgresAdminUrl());
});
afterAll(() => database.drop());

const migrate = () =>
  run(process.execPath, [MIGRATE], {
    env: { PATH: process.env.PATH, DATABASE_URL: database.url },
    cwd: path.dirname(MIGRATE),
  });

describe('db:migrate against a real PostgreSQL', () => {
  it('creates the tables and records the migration as prisma migrate deploy would, then is a no-op', async () => {
    const first = await migrate();
    const migrations = (await readMigrations()).migrationDirectories.map((dir) => dir.path);
    expect(first.stdout).toContain(`Applied ${migrations.length} migration(s)`);

    await withClient(database.url, async (client) => {
      const tables = await client.query<{ table_name: string }>(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name",
      );
      expect(tables.rows.map((row) => row.table_name)).toEqual([
        '_prisma_migrations',
        'account_tokens',
        'audit_events',
        'mail_outbox',
        'password_reset_requests',
        'refresh_tokens',
        'sessions',
        'users',
      ]);
      const history = await client.query(
        'SELECT migration_name, checksum, finished_at, rolled_back_at, applied_steps_count FROM _prisma_migrations ORDER BY migration_name',
      );
      expect(history.rows).toEqual(
        migrations.map((name) => ({
          migration_name: name,
          checksum: createHash('sha256')
            .update(
              readFileSync(
                path.resolve(__dirname, '../../prisma/migrations', name, 'migration.sql'),
              ),
            )
            .digest('hex'),
          finished_at: expect.any(Date),
          rolled_back_at: null,
          applied_steps_count: 1,
        })),
      );
    });

    const second = await migrate();
    expect(second.stdout).toContain('is up to date: no pending migrations');
    await withClient(database.url, async (client) => {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM _prisma_migrations');
      expect(rows[0].n).toBe(migrations.length);
    });
  });

  it('fails with a readable message and exit 1 when the server is unreachable', async () => {
    const failure = await run(process.execPath, [MIGRATE], {
      env: { PATH: process.env.PATH, DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/nowhere' },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^Migration failed: /),
    });
    expect((failure as { stderr: string }).stderr).not.toMatch(/\n\s+at /);
  });
});
