import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findBinary } from './binaries';
import { spawnTracked, type RunningProcess } from './child-processes';
import { freePort, waitForPort } from './ports';

/** A Redis server this test owns (never the machine's shared one): it may stop and restart it. */
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
  const dir = mkdtempSync(path.join(os.tmpdir(), 'e2e-redis-'));
  let proc: RunningProcess | undefined;
  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    async start() {
      proc = spawnTracked(binary, [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ]);
      await waitForPort(port).catch((error: Error) => {
        throw new Error(`redis-server did not start: ${error.message}\n${proc?.output()}`);
      });
    },
    async stop() {
      await proc?.stop('SIGTERM');
      proc = undefined;
    },
    async destroy() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
