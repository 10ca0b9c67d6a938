import { execFileSync } from 'node:child_process';
import { chownSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findBinary, isRoot } from './binaries';
import { withClient } from './postgres';
import { freePort, waitForPort } from './ports';
import { startProcess, type ManagedProcess } from './processes';
import { makeTempDir, removeTempDir } from './temp-dirs';

/** A PgBouncer the caller owns, in front of one PostgreSQL server. */
export interface PgBouncer {
  readonly port: number;
  readonly process: ManagedProcess;
  /** `url` (a `postgresql://` URL of the server) with its host and port replaced by PgBouncer's. */
  urlFor(url: string): string;
  /** `SHOW <what>` on PgBouncer's admin console (`POOLS`, `STATS`...), one object per row. */
  show(what: string): Promise<Array<Record<string, string>>>;
  destroy(): Promise<void>;
}

export interface PgBouncerOptions {
  /** The PostgreSQL server, as `127.0.0.1:<port>`; every database on it is proxied. */
  serverPort: number;
  poolMode?: 'session' | 'transaction' | 'statement';
  /** Server connections per (database, user) pair: what PostgreSQL actually sees. */
  poolSize: number;
  maxClientConnections?: number;
}

/**
 * Starts `pgbouncer` on a free loopback port, in a temp folder, proxying every database of the
 * PostgreSQL server on `serverPort` with trust authentication (the harness's servers trust
 * loopback). PgBouncer refuses to run as root: as root it runs as `postgres`.
 */
export async function startPgBouncer({
  serverPort,
  poolMode = 'transaction',
  poolSize,
  maxClientConnections = 500,
}: PgBouncerOptions): Promise<PgBouncer> {
  const binary = findBinary('pgbouncer');
  const dir = makeTempDir('harness-pgbouncer-');
  const port = await freePort();
  const ini = path.join(dir, 'pgbouncer.ini');
  writeFileSync(path.join(dir, 'users.txt'), '"postgres" ""\n');
  writeFileSync(
    ini,
    [
      '[databases]',
      `* = host=127.0.0.1 port=${serverPort}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'users.txt')}`,
      'admin_users = postgres',
      `pool_mode = ${poolMode}`,
      `default_pool_size = ${poolSize}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      `max_client_conn = ${maxClientConnections}`,
      // node-postgres sends none of these, but psql and other clients do.
      'ignore_startup_parameters = extra_float_digits,options',
      `logfile = ${path.join(dir, 'pgbouncer.log')}`,
      '',
    ].join('\n'),
  );
  const args = [ini];
  if (isRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    for (const file of [dir, ini, path.join(dir, 'users.txt')]) chownSync(file, uid, gid);
    args.unshift('-u', 'postgres');
  }
  const proc = startProcess(binary, args, { name: 'pgbouncer' });
  await waitForPort(port, { owner: proc });

  const urlFor = (url: string) => {
    const through = new URL(url);
    through.host = `127.0.0.1:${port}`;
    return through.toString();
  };
  return {
    port,
    process: proc,
    urlFor,
    show: (what) =>
      withClient(`postgresql://postgres@127.0.0.1:${port}/pgbouncer`, async (client) => {
        // Without parameters, node-postgres uses the simple query protocol: the only one the
        // admin console speaks.
        const result = await client.query<Record<string, string>>(`SHOW ${what}`);
        return result.rows;
      }),
    async destroy() {
      await proc.stop('SIGTERM');
      removeTempDir(dir);
    },
  };
}
