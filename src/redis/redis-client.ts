import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config';
import type { Logger } from '../logger';

export type { Redis } from 'ioredis';

/** Where the one Redis is: a URL, or the primary of a Sentinel group. */
export type RedisTarget =
  | { url: string }
  | {
      sentinels: ReadonlyArray<{ host: string; port: number }>;
      /** The name the sentinels monitor the primary under. */
      master: string;
      /** The primary's and replicas' `requirepass`. */
      password?: string | undefined;
      /** The sentinels' own `requirepass`. */
      sentinelPassword?: string | undefined;
    };

/** The Redis this configuration names (`REDIS_URL` or `REDIS_SENTINELS`), or undefined for none. */
export function redisTarget({ redis }: Pick<Config, 'redis'>): RedisTarget | undefined {
  if (redis.url) return { url: redis.url };
  if (redis.sentinels) {
    return {
      sentinels: redis.sentinels,
      master: redis.sentinelMaster,
      password: redis.password,
      sentinelPassword: redis.sentinelPassword,
    };
  }
  return undefined;
}

export interface RedisClientOptions {
  target: RedisTarget;
  /** Longest a single command may take before it fails; keeps requests fast when Redis stalls. */
  commandTimeoutMs: number;
  connectTimeoutMs: number;
}

/**
 * The process's one Redis connection (ioredis understands `redis://`, `rediss://` for TLS,
 * a password and a `/db` index in the URL), or to the primary of a Sentinel group.
 *
 * ioredis's defaults suit a cache that must not lose writes, not a request path: they queue
 * commands while disconnected and retry each one 20 times, so a Redis outage made requests hang
 * for over 30 s in our measurements. Here a command fails at once when Redis is down, and within
 * `commandTimeoutMs` when it stalls, so callers can degrade instead of waiting, while the
 * connection itself keeps reconnecting in the background.
 */
export function createRedisClient(options: RedisClientOptions, logger: Logger): Redis {
  const shared: RedisOptions = {
    enableOfflineQueue: false,
    // Commands issued in the same event-loop turn (one rate-limit check per concurrent request)
    // leave in one write instead of one syscall each: writing commands one by one was 11% of
    // the CPU of an authenticated request under load (see the README's Performance section).
    enableAutoPipelining: true,
    maxRetriesPerRequest: 1,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 2_000),
  };
  const { target } = options;
  const redis =
    'url' in target
      ? new Redis(target.url, shared)
      : new Redis({
          ...shared,
          sentinels: target.sentinels.map(({ host, port }) => ({ host, port })),
          name: target.master,
          password: target.password,
          sentinelPassword: target.sentinelPassword,
          // A failover closes the connection to the old primary; each reconnect asks the
          // sentinels again, and the connection is only used once the node reports the role
          // `master`. The sentinels' `+switch-master` is followed too, so a primary that is
          // demoted without dropping its connections is left at once.
          failoverDetector: true,
        });
  let down = false;
  redis.on('ready', () => {
    if (down) logger.info('Redis connection restored');
    down = false;
  });
  redis.on('error', (error) => {
    // ioredis emits an error per failed reconnect attempt; one line per outage is enough.
    if (down) return;
    down = true;
    logger.warn({ err: error }, 'Redis connection lost; reconnecting in the background');
  });
  return redis;
}
