import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client } from 'pg';
import { findBinary, isRoot, runAsPostgresUser } from './binaries';
import { freePort } from './ports';
import { makeTempDir, removeTempDir } from './temp-dirs';

/** A PostgreSQL server the caller owns: it may stop and start it at will. */
export interface PostgresServer {
  /** URL of the `postgres` database, for creating and dropping databases. */
  adminUrl: string;
  port: number;
  stop(): void;
  start(): void;
  destroy(): void;
}

/**
 * Starts a private PostgreSQL cluster on a free port in a temp folder (about 2 s): initdb, then
 * pg_ctl start, as the `postgres` user when we are root (initdb refuses to run as root).
 * Durability is off (fsync, synchronous_commit): the data is thrown away afterwards.
 */
export async function startPostgres({
  settings = [],
}: {
  /** More server settings, as `name=value` (e.g. `shared_preload_libraries=pg_stat_statements`). */
  settings?: readonly string[];
} = {}): Promise<PostgresServer> {
  const initdb = findBinary('initdb');
  const dir = makePostgresDir('harness-pg-');
  const data = path.join(dir, 'data');
  const port = await freePort();
  runAsPostgresUser(initdb, [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c max_connections=200',
    ...settings.map((setting) => `-c ${setting}`),
  ].join(' ');

  return startPgCtlServer({ dir, data, port, options, label: 'PostgreSQL' });
}

/** A temp folder the `postgres` user owns (initdb and pg_ctl run as that user when we are root). */
export function makePostgresDir(prefix: string): string {
  const dir = makeTempDir(prefix);
  if (isRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    chownSync(dir, uid, gid);
  }
  return dir;
}

/**
 * Starts the cluster in `data` with pg_ctl (server options `options`, log in `dir`) and returns
 * it as a {@link PostgresServer}; `destroy` stops it and removes `dir`.
 */
export function startPgCtlServer({
  dir,
  data,
  port,
  options,
  label,
}: {
  dir: string;
  data: string;
  port: number;
  options: string;
  /** Names the server in the error when it does not start. */
  label: string;
}): PostgresServer {
  const pgCtl = findBinary('pg_ctl');
  const log = path.join(dir, 'server.log');
  const server: PostgresServer = {
    adminUrl: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    port,
    start() {
      try {
        // pg_ctl waits for the server itself (-w); 120 s bounds a hang on a busy machine.
        runAsPostgresUser(pgCtl, [
          '-D',
          data,
          '-l',
          log,
          '-o',
          options,
          '-w',
          '-t',
          '120',
          'start',
        ]);
      } catch (error) {
        const tail = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
        throw new Error(`${label} did not start: ${(error as Error).message}\n${tail}`, {
          cause: error,
        });
      }
    },
    stop() {
      runAsPostgresUser(pgCtl, ['-D', data, '-m', 'fast', '-w', '-t', '120', 'stop']);
    },
    destroy() {
      try {
        server.stop();
      } catch {
        // already stopped
      }
      removeTempDir(dir);
    },
  };
  server.start();
  return server;
}

/** A database of its own, on a server given by its admin URL. */
export interface Database {
  url: string;
  drop(): Promise<void>;
}

/** Creates an empty database with a random name (so test files can run in parallel). */
export async function createDatabase(adminUrl: string): Promise<Database> {
  const name = `harness_${randomBytes(6).toString('hex')}`;
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () =>
      withClient(adminUrl, (client) =>
        client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
      ).then(() => {}),
  };
}

/** Runs `use` with a connected client, always closing it. */
export async function withClient<T>(url: string, use: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 15_000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}
