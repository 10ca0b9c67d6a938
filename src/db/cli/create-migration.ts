/**
 * `pnpm db:migration:create <name>`: writes prisma/migrations/<timestamp>_<name>/migration.sql
 * with the SQL that takes a database built from the existing migrations to
 * prisma/schema.prisma, like `prisma migrate dev --create-only`, without Prisma's native engine
 * or any database server: the migrations are replayed into an in-memory PGlite.
 * Review the file, then apply it with `pnpm db:migrate`.
 */
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGliteAdapterFactory } from '../embedded-database';
import { diffSchemaAgainstMigrations, writeMigration } from '../migration-engine';

async function main(): Promise<void> {
  const raw = process.argv[2];
  if (!raw) {
    console.error(
      'Usage: pnpm db:migration:create <name>   e.g. pnpm db:migration:create add_user_roles',
    );
    process.exit(1);
  }
  const name = raw
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  if (!name) {
    console.error(`"${raw}" is not a usable migration name: use letters, digits and underscores.`);
    process.exit(1);
  }
  const scratch = new PGlite();
  try {
    const sql = await diffSchemaAgainstMigrations(new PGliteAdapterFactory(scratch, scratch));
    if (!sql) {
      console.log('prisma/schema.prisma matches the migrations: nothing to create.');
      return;
    }
    const folder = await writeMigration(name, sql);
    console.log(`Created ${path.relative(process.cwd(), folder)}/migration.sql:\n\n${sql}`);
    console.log('Review it, then apply it with: pnpm db:migrate');
  } finally {
    await scratch.close();
  }
}

main().catch((error: unknown) => {
  console.error(
    `Could not create the migration: ${error instanceof Error ? error.message : String(error)}`,
  );
  process.exit(1);
});
