import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { openEmbeddedPostgres } from '../../src/db/embedded-database';
import { applyMigrations } from '../../src/db/migration-engine';
import { pgliteTemplateDir } from './pglite-template';

/**
 * Builds, once, a PGlite database with every migration applied, through the same engine that
 * `pnpm db:migrate` and the dev server use. Integration tests copy it (see test-app.ts).
 *
 * This runs in jest's parent process, outside the test sandbox, where the engine's ES module
 * bindings can load.
 */
export default async function buildPgliteTemplate(): Promise<void> {
  const dir = pgliteTemplateDir();
  if (existsSync(path.join(dir, '.complete'))) return;
  const building = mkdtempSync(`${dir}.building-`);
  const dataDir = path.join(building, 'pglite');
  const db = await openEmbeddedPostgres({ dataDir });
  try {
    await applyMigrations(db.adapterFactory);
  } finally {
    await db.close();
  }
  writeFileSync(path.join(dataDir, '.complete'), '');
  rmSync(dir, { recursive: true, force: true });
  // Another run may have finished first; either copy is equally good.
  try {
    renameSync(dataDir, dir);
  } catch {
    /* already there */
  }
  rmSync(building, { recursive: true, force: true });
}
