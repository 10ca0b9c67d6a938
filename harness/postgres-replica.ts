import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { findBinary, isRoot, runAsPostgresUser } from './binaries';
import { freePort } from './ports';
import type { PostgresServer } from './postgres';
import { makeTempDir, removeTempDir } from './temp-dirs';

/**
 * A streaming replica of a private PostgreSQL server (see `startPostgres`): a `pg_basebackup -R`
 * of it, started on a free port as a hot standby. Stop and start it at will; `adminUrl` reads it.
 */
export async function startReplica(
  primary: PostgresServer,
  { settings = [] }: { settings?: readonly string[] } = {},
): Promise<PostgresServer> {
  const pgBasebackup = findBinary('pg_basebackup');
  const pgCtl = findBinary('pg_ctl');
  const dir = makeTempDir('harness-pg-replica-');
  if (isRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    chownSync(dir, uid, gid);
  }
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  const port = await freePort();
  // -R writes standby.signal and primary_conninfo: the copy starts as a streaming replica.
  runAsPostgresUser(pgBasebackup, [
    ...['-h', '127.0.0.1', '-p', String(primary.port), '-U', 'postgres'],
    ...['-D', data, '-R', '-X', 'stream', '--no-sync', '-c', 'fast'],
  ]);
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c hot_standby=on',
    // A standby refuses to start with less than its primary has (startPostgres uses 200).
    '-c max_connections=200',
    '-c fsync=off',
    ...settings.map((setting) => `-c ${setting}`),
  ].join(' ');

  const server: PostgresServer = {
    adminUrl: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    port,
    start() {
      try {
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
        throw new Error(`the replica did not start: ${(error as Error).message}\n${tail}`, {
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
