import { ClusterMemoryStoreWorker } from '@express-rate-limit/cluster-memory-store';
import { MemoryStore, type Store } from 'express-rate-limit';
import type { Logger } from '../logger';
import type { Redis } from '../redis/redis-client';
import { RedisAvailability } from './redis-availability';
import { RedisFallbackStore } from './redis-fallback-store';
import {
  MemorySignInDelay,
  RedisSignInDelay,
  type SignInDelay,
  type SignInDelayOptions,
} from './sign-in-delay';

/**
 * Where the counts of a process's rate limiters live now:
 * - `redis`: in Redis, one count for every instance that uses it;
 * - `memory-fallback`: Redis is configured but unavailable: this process counts on its own;
 * - `cluster-memory`: no Redis, a cluster worker: the cluster primary counts for the machine;
 * - `memory`: no Redis, a single process: it counts on its own.
 */
export type RateLimitStoreKind = 'redis' | 'memory-fallback' | 'cluster-memory' | 'memory';

/** Who shares one count, i.e. what a limit of N actually bounds. */
export type RateLimitScope = 'fleet' | 'machine' | 'process';

/** The rate limiters' store right now, for `/health/ready` and metrics. */
export interface RateLimitState {
  store: RateLimitStoreKind;
  scope: RateLimitScope;
  /** Set while Redis is configured but not counting: when that began (ISO 8601). */
  degradedSince?: string;
}

/** Builds one store per limiter, all of the kind chosen for this process. */
export interface StoreSelection {
  /** The kind chosen by configuration (with Redis: `redis`, even while it is unavailable). */
  kind: Exclude<RateLimitStoreKind, 'memory-fallback'>;
  /** What a limit guarantees when that store counts. */
  scope: RateLimitScope;
  /** A new store for the limiter `name` (each limiter needs its own, with its own key prefix). */
  create: (name: string) => Store;
  /**
   * The per-account progressive delay: in Redis (with a memory shadow) when Redis is set, else
   * in this process's memory (each cluster worker on its own: the primary's store only counts).
   */
  createSignInDelay: (name: string, options: SignInDelayOptions) => SignInDelay;
  state: () => RateLimitState;
  /** Starts watching Redis once every limiter is built (no-op without Redis). */
  start: () => void;
  close: () => void;
}

export interface StoreSelectionOptions {
  redis: Pick<Redis, 'call' | 'status' | 'on' | 'off'> | undefined;
  /** `REDIS_KEY_PREFIX`: before every key, so apps can share a Redis database. */
  keyPrefix: string;
  /** Whether this process is a `node:cluster` worker (whose primary then holds the counts). */
  isClusterWorker: boolean;
  logger: Logger;
  /** How long Redis may take to answer at start-up before that is logged as an outage. */
  startupGraceMs: number;
}

/**
 * Chooses the store kind: Redis when the process has a Redis connection (with a per-process
 * memory fallback during outages); otherwise the cluster primary's memory in a cluster worker;
 * otherwise this process's memory.
 */
export function selectStores({
  redis,
  keyPrefix,
  isClusterWorker,
  logger,
  startupGraceMs,
}: StoreSelectionOptions): StoreSelection {
  if (redis) {
    const availability = new RedisAvailability({ redis, logger, startupGraceMs });
    return {
      kind: 'redis',
      scope: 'fleet',
      create: (name) =>
        new RedisFallbackStore({ redis, prefix: `${keyPrefix}rl:${name}:`, availability }),
      createSignInDelay: (name, options) =>
        new RedisSignInDelay({ redis, prefix: `${keyPrefix}rl:${name}:`, availability, options }),
      state: () => {
        const since = availability.degradedSince;
        return since
          ? { store: 'memory-fallback', scope: 'process', degradedSince: since.toISOString() }
          : { store: 'redis', scope: 'fleet' };
      },
      start: () => availability.start(),
      close: () => availability.close(),
    };
  }
  if (isClusterWorker) {
    // The prefix names the limiter's own store in the primary.
    return fixed(
      'cluster-memory',
      'machine',
      (name) => new ClusterMemoryStoreWorker({ prefix: name }),
    );
  }
  return fixed('memory', 'process', () => new MemoryStore());
}

function fixed(
  store: 'cluster-memory' | 'memory',
  scope: RateLimitScope,
  create: (name: string) => Store,
): StoreSelection {
  const state: RateLimitState = Object.freeze({ store, scope });
  return {
    kind: store,
    scope,
    create,
    createSignInDelay: (_name, options) => new MemorySignInDelay(options),
    state: () => state,
    start: () => {},
    close: () => {},
  };
}
