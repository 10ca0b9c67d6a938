/**
 * `pnpm db:migrate`: applies pending migrations from prisma/migrations, offline, through Prisma's
 * WebAssembly schema engine. Targets DATABASE_URL, or the embedded database when it is unset.
 * Production images run the compiled form, `node dist/db/cli/migrate.js`, as a one-off step.
 */
import { ConfigError, loadConfig } from '../../config';
import { openDatabase } from '../database';

async function main(): Promise<void> {
  const { config } = loadConfig();
  const db = await openDatabase(config);
  try {
    const applied = await db.applyMigrations();
    if (applied.length === 0) {
      console.log(`${db.description} is up to date: no pending migrations.`);
    } else {
      console.log(`Applied ${applied.length} migration(s) to ${db.description}:`);
      for (const name of applied) console.log(`  - ${name}`);
    }
  } finally {
    await db.close();
  }
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    for (const problem of error.problems) console.error(`config error: ${problem}`);
  } else {
    console.error(`Migration failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  process.exit(1);
});
