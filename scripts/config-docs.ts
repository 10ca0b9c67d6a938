/**
 * `pnpm config:docs`: rewrites the README's configuration table from the declarations in
 * src/config/settings.ts. Run it after adding or changing a setting; the drift test
 * (tests/unit/config-drift.test.ts) fails until the README matches.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { withSettingsTable } from '../src/config/settings-table';

const readmePath = path.resolve(__dirname, '..', 'README.md');
const readme = readFileSync(readmePath, 'utf8');
const updated = withSettingsTable(readme);
if (updated === readme) {
  console.log('README.md: the configuration table is up to date');
} else {
  writeFileSync(readmePath, updated);
  console.log('README.md: configuration table rewritten from src/config/settings.ts');
}
