import { migrate } from '../../harness/app-server';
import { createDatabase, type Database } from '../../harness/postgres';

/** The PostgreSQL server shared by the e2e run (see e2e.global-setup.ts). */
export function sharedPostgresAdminUrl(): string {
  const url = process.env.E2E_POSTGRES_ADMIN_URL;
  if (!url)
    throw new Error(
      'E2E_POSTGRES_ADMIN_URL is not set: run e2e tests through jest --selectProjects e2e',
    );
  return url;
}

/**
 * A database of its own for one test file, on the shared server (or on `adminUrl`), with every
 * migration applied by the built migration command.
 */
export async function migratedDatabase(adminUrl = sharedPostgresAdminUrl()): Promise<Database> {
  const database = await createDatabase(adminUrl);
  await migrate(database.url);
  return database;
}
