import { existsSync } from 'node:fs';
import path from 'node:path';
import { startPostgres, type PostgresServer } from '../../harness/postgres';

declare global {
  // Shared with e2e.global-teardown.ts, which jest runs in this same process.
  var e2ePostgres: PostgresServer | undefined;
}

/**
 * Prepares the e2e run: the built server must exist, and one PostgreSQL server is shared by
 * every test file (each file creates its own database on it). TEST_DATABASE_URL names an
 * existing server to use instead; it deliberately is not DATABASE_URL, which on a developer's
 * machine may point at data that matters.
 */
export default async function setup(): Promise<void> {
  if (!existsSync(path.resolve(__dirname, '../../dist/server.js'))) {
    throw new Error(
      'dist/server.js is missing: the e2e tier runs the built server; use `pnpm test:e2e`, which builds first.',
    );
  }
  if (process.env.TEST_DATABASE_URL) {
    process.env.E2E_POSTGRES_ADMIN_URL = process.env.TEST_DATABASE_URL;
    return;
  }
  globalThis.e2ePostgres = await startPostgres();
  process.env.E2E_POSTGRES_ADMIN_URL = globalThis.e2ePostgres.adminUrl;
}
