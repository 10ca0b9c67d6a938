import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { openEmbeddedPostgres, PGliteAdapterFactory } from '../../src/db/embedded-database';
import {
  applyMigrations,
  diffSchemaAgainstMigrations,
  readMigrations,
} from '../../src/db/migration-engine';
import { pgliteTemplateDir } from '../helpers/pglite-template';

describe('migrations', () => {
  it('prisma/schema.prisma and prisma/migrations agree (run `pnpm db:migration:create` after a schema change)', async () => {
    const scratch = new PGlite();
    try {
      await expect(
        diffSchemaAgainstMigrations(new PGliteAdapterFactory(scratch, scratch)),
      ).resolves.toBe('');
    } finally {
      await scratch.close();
    }
  });

  it('records each applied migration in _prisma_migrations with the checksum prisma migrate deploy uses', async () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'migrations-'));
    cpSync(pgliteTemplateDir(), path.join(root, 'pglite'), { recursive: true });
    const db = await openEmbeddedPostgres({ dataDir: path.join(root, 'pglite') });
    try {
      const { rows } = await db.pglite.query<{
        migration_name: string;
        checksum: string;
        finished_at: Date | null;
      }>(
        'SELECT migration_name, checksum, finished_at FROM _prisma_migrations ORDER BY migration_name',
      );
      const migrations = await readMigrations();
      const { createHash } = await import('node:crypto');
      expect(rows).toEqual(
        migrations.migrationDirectories.map((dir) => ({
          migration_name: dir.path,
          checksum: createHash('sha256').update(dir.migrationFile.content.value).digest('hex'),
          finished_at: expect.any(Date),
        })),
      );
      // Applying again is a no-op.
      await expect(applyMigrations(db.adapterFactory)).resolves.toEqual([]);
    } finally {
      await db.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
