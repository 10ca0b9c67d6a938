import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MIGRATIONS_DIR } from '../../src/db/paths';

/**
 * Where the migrated PGlite template for this set of migrations lives. Creating a PGlite
 * database runs initdb in WebAssembly (about 5 s here), so it is done once per migration set
 * and each test file starts from a copy (well under a second).
 */
export function pgliteTemplateDir(): string {
  const hash = createHash('sha256');
  // The PGlite version: its data format may change between releases.
  hash.update(
    readFileSync(
      path.join(path.dirname(require.resolve('@electric-sql/pglite')), '..', 'package.json'),
    ),
  );
  for (const name of readdirSync(MIGRATIONS_DIR).sort()) {
    hash.update(name);
    try {
      hash.update(readFileSync(path.join(MIGRATIONS_DIR, name, 'migration.sql')));
    } catch {
      // migration_lock.toml
    }
  }
  return path.join(os.tmpdir(), `express-template-pglite-${hash.digest('hex').slice(0, 16)}`);
}
