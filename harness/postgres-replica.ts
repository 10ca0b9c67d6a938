import path from 'node:path';
import { findBinary, runAsPostgresUser } from './binaries';
import { freePort } from './ports';
import { makePostgresDir, startPgCtlServer, type PostgresServer } from './postgres';

/**
 * A streaming replica of a private PostgreSQL server (see `startPostgres`): a `pg_basebackup -R`
 * of it, started on a free port as a hot standby. Stop and start it at will; `adminUrl` reads it.
 */
export async function startReplica(
  primary: PostgresServer,
  { settings = [] }: { settings?: readonly string[] } = {},
): Promise<PostgresServer> {
  const pgBasebackup = findBinary('pg_basebackup');
  const dir = makePostgresDir('harness-pg-replica-');
  const data = path.join(dir, 'data');
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

  return startPgCtlServer({ dir, data, port, options, label: 'the replica' });
}
