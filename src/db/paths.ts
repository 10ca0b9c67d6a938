import path from 'node:path';

// This file compiles to dist/db/paths.js, so both resolve to the project root.
const ROOT = path.resolve(__dirname, '..', '..');

/** The Prisma schema the migrations are diffed against. */
export const SCHEMA_PATH = path.join(ROOT, 'prisma', 'schema.prisma');
/** Prisma's migrations folder: one `<timestamp>_<name>/migration.sql` per migration. */
export const MIGRATIONS_DIR = path.join(ROOT, 'prisma', 'migrations');
