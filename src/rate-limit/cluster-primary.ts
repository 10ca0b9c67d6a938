import { ClusterMemoryStorePrimary } from '@express-rate-limit/cluster-memory-store';
import type { Config } from '../config';

/**
 * Sets up the cluster primary's side of the rate limit counts, when it has one: without Redis,
 * cluster workers count in the primary's memory (one count per machine, not one per worker), so
 * the primary must answer them. Call it once in the primary, before forking the workers.
 *
 * @returns the primary's store, or undefined when Redis is configured (workers count in Redis).
 */
export function setUpRateLimitClusterPrimary(
  config: Pick<Config, 'redis'>,
): ClusterMemoryStorePrimary | undefined {
  if (config.redis.url || config.redis.sentinels) return undefined;
  const primary = new ClusterMemoryStorePrimary();
  primary.init();
  return primary;
}
