import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  bindMigrationAwareSqlAdapterFactory,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
} from '@prisma/driver-adapter-utils';
import type * as EngineBindings from '@prisma/schema-engine-wasm/schema_engine_bg' with {
  'resolution-mode': 'import',
};
import type {
  MigrationList,
  SchemaEngine,
  SchemaFilter,
} from '@prisma/schema-engine-wasm/schema_engine_bg' with { 'resolution-mode': 'import' };
import type { Logger } from '../logger';
import { MIGRATIONS_DIR, SCHEMA_PATH } from './paths';

/**
 * Prisma's migrations without Prisma's native engine.
 *
 * `prisma migrate` downloads a native schema engine at run time, which fails on air-gapped hosts
 * (and here). Prisma also publishes the same engine compiled to WebAssembly
 * (`@prisma/schema-engine-wasm`, pinned to the engine version of the installed `prisma`), which
 * talks to the database through the same driver adapters as the client. It reads the same
 * `prisma/migrations/<name>/migration.sql` folders and records them in the same
 * `_prisma_migrations` table, so `prisma migrate deploy` and this module can be used
 * interchangeably on one database.
 */

const LOCKFILE = 'migration_lock.toml';
const NO_FILTER: SchemaFilter = { externalTables: [], externalEnums: [] };

type EngineModule = typeof EngineBindings;

// The server build loads no DOM typings, where the WebAssembly global is declared.
declare const WebAssembly: {
  instantiate(
    bytes: Uint8Array,
    imports: object,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
};

let engineModule: Promise<EngineModule> | undefined;

/**
 * Loads and instantiates the WebAssembly engine once per process.
 *
 * The package's own entry imports the `.wasm` file as an ES module, which Node 20 only allows
 * behind `--experimental-wasm-modules`; instantiating the bytes ourselves works on every
 * supported Node without flags.
 */
function loadEngineModule(): Promise<EngineModule> {
  engineModule ??= (async () => {
    const bindingsPath = require.resolve('@prisma/schema-engine-wasm/schema_engine_bg');
    const bindings = (await import(pathToFileURL(bindingsPath).href)) as EngineModule & {
      __wbg_set_wasm(exports: Record<string, unknown>): void;
    };
    const bytes = await readFile(bindingsPath.replace(/\.js$/, '.wasm'));
    // The engine arms 10 s timeouts that outlive its work and would hold a CLI process open
    // that long after it is done; unref'd timers still fire but do not keep the process alive.
    const imports: Record<string, unknown> = { ...bindings };
    for (const name of Object.keys(imports).filter((key) => key.startsWith('__wbg_setTimeout_'))) {
      imports[name] = (callback: () => void, ms: number) => setTimeout(callback, ms >>> 0).unref();
    }
    const { instance } = await WebAssembly.instantiate(bytes, { './schema_engine_bg.js': imports });
    bindings.__wbg_set_wasm(instance.exports);
    (instance.exports.__wbindgen_start as (() => void) | undefined)?.();
    return bindings;
  })();
  return engineModule;
}

async function withEngine<T>(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  logger: Logger | undefined,
  use: (engine: SchemaEngine) => Promise<T>,
): Promise<T> {
  const { SchemaEngine } = await loadEngineModule();
  const schema = await readFile(SCHEMA_PATH, 'utf8');
  // The engine opens connections through the factory but never closes them: an open pg pool
  // would keep a CLI process alive until its idle timeout. Track them and dispose them here.
  const opened: SqlDriverAdapter[] = [];
  const track = async (adapter: Promise<SqlDriverAdapter>) => {
    opened.push(await adapter);
    return opened[opened.length - 1] as SqlDriverAdapter;
  };
  const tracked: SqlMigrationAwareDriverAdapterFactory = {
    provider: adapterFactory.provider,
    adapterName: adapterFactory.adapterName,
    connect: () => track(adapterFactory.connect()),
    connectToShadowDb: () => track(adapterFactory.connectToShadowDb()),
  };
  const engine = await SchemaEngine.new(
    { datamodels: [[SCHEMA_PATH, schema]] },
    (line: string) => logger?.trace({ engine: safeJson(line) }, 'schema engine'),
    bindMigrationAwareSqlAdapterFactory(tracked),
  );
  try {
    return await use(engine);
  } finally {
    engine.free();
    await Promise.allSettled(opened.map((adapter) => adapter.dispose()));
  }
}

/** Reads `prisma/migrations` in the shape the engine expects. */
export async function readMigrations(dir = MIGRATIONS_DIR): Promise<MigrationList> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    },
  );
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return {
    baseDir: dir,
    lockfile: {
      path: LOCKFILE,
      content: await readFile(path.join(dir, LOCKFILE), 'utf8').catch(
        () => 'provider = "postgresql"\n',
      ),
    },
    shadowDbInitScript: '',
    migrationDirectories: await Promise.all(
      names.map(async (name) => ({
        path: name,
        migrationFile: {
          path: 'migration.sql',
          content: await readFile(path.join(dir, name, 'migration.sql'), 'utf8').then(
            (value) => ({ tag: 'ok' as const, value }),
            (error: Error) => ({ tag: 'error' as const, value: error.message }),
          ),
        },
      })),
    ),
  };
}

/**
 * Applies every pending migration, in name order, each in its own transaction, and records it
 * in `_prisma_migrations`. Applying an up-to-date database is a no-op.
 *
 * @returns the names of the migrations applied by this call.
 */
export async function applyMigrations(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  logger?: Logger,
): Promise<string[]> {
  const migrationsList = await readMigrations();
  return withEngine(adapterFactory, logger, async (engine) => {
    const { appliedMigrationNames } = await engine.applyMigrations({
      migrationsList,
      filters: NO_FILTER,
    });
    return appliedMigrationNames;
  });
}

/**
 * Computes the SQL that brings a database built from the existing migrations up to
 * `prisma/schema.prisma`: what `prisma migrate dev --create-only` writes.
 *
 * The migrations are replayed into a shadow database, so `adapterFactory` must provide one
 * (the PGlite adapter's is an in-memory database: no server needed).
 *
 * @returns the SQL, or an empty string when the schema and the migrations already agree.
 */
export async function diffSchemaAgainstMigrations(
  adapterFactory: SqlMigrationAwareDriverAdapterFactory,
  logger?: Logger,
): Promise<string> {
  const migrationsList = await readMigrations();
  const schema = await readFile(SCHEMA_PATH, 'utf8');
  return withEngine(adapterFactory, logger, async (engine) => {
    const result = await engine.diff({
      from: { tag: 'migrations', ...migrationsList },
      to: { tag: 'schemaDatamodel', files: [{ path: SCHEMA_PATH, content: schema }] },
      script: true,
      exitCode: null,
      filters: NO_FILTER,
    });
    const sql = result.stdout ?? '';
    return /^\s*(--.*)?\s*$/.test(sql) || sql.includes('-- This is an empty migration.') ? '' : sql;
  });
}

/**
 * Writes `prisma/migrations/<UTC timestamp>_<name>/migration.sql` (and the lockfile on first
 * use), named as Prisma names them.
 *
 * @returns the path of the new migration folder.
 */
export async function writeMigration(name: string, sql: string, now = new Date()): Promise<string> {
  const stamp = now.toISOString().replace(/\D/g, '').slice(0, 14);
  const folder = path.join(MIGRATIONS_DIR, `${stamp}_${name}`);
  await mkdir(folder, { recursive: true });
  await writeFile(path.join(folder, 'migration.sql'), sql);
  await writeFile(
    path.join(MIGRATIONS_DIR, LOCKFILE),
    '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n',
  );
  return folder;
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return line;
  }
}
