import { findBinary } from './binaries';
import { freePort, waitForPort } from './ports';
import { startProcess, type ManagedProcess } from './processes';
import { makeTempDir, removeTempDir } from './temp-dirs';

/** A Redis server the caller owns (never the machine's shared one): it may stop and restart it. */
export interface RedisServer {
  url: string;
  port: number;
  stop(): Promise<void>;
  /** Starts it again on the same port (after `stop`). */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

/** Starts `redis-server` on a free port, with nothing persisted, in a temp folder. */
export async function startRedis(): Promise<RedisServer> {
  const binary = findBinary('redis-server');
  const port = await freePort();
  const dir = makeTempDir('harness-redis-');
  let proc: ManagedProcess | undefined;
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      proc = startProcess(
        binary,
        [
          ...['--port', String(port), '--bind', '127.0.0.1'],
          ...['--save', '', '--appendonly', 'no', '--dir', dir],
        ],
        { name: 'redis-server' },
      );
      await waitForPort(port, { owner: proc });
    },
    async stop() {
      await proc?.stop('SIGTERM');
      proc = undefined;
    },
    async destroy() {
      await server.stop();
      removeTempDir(dir);
    },
  };
  await server.start();
  return server;
}
