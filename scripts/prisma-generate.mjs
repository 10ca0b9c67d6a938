#!/usr/bin/env node
/**
 * Generates the Prisma client (`src/generated/prisma`) without network access.
 *
 * Prisma's CLI downloads its native schema engine before `generate`, although generate never runs
 * it; where Prisma's download server is unreachable (air-gapped hosts, CI behind a registry-only
 * proxy) that download fails. Naming any existing file in PRISMA_SCHEMA_ENGINE_BINARY skips the
 * download. Migrations do not use the native engine at all: see src/db/migration-engine.ts.
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(import.meta.url);
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';

let cli;
try {
  cli = require.resolve('prisma/build/index.js');
} catch {
  // Production installs (`pnpm install --prod`) have no Prisma CLI; the client was generated
  // and compiled into dist/ at build time, so there is nothing to do.
  process.exit(0);
}
const result = spawnSync(process.execPath, [cli, 'generate'], { env, stdio: 'inherit' });
process.exit(result.status ?? 1);
