import {
  MemoryStore,
  type ClientRateLimitInfo,
  type IncrementResponse,
  type Options,
  type Store,
} from 'express-rate-limit';
import { RedisStore, type RedisReply } from 'rate-limit-redis';
import type { Redis } from '../redis/redis-client';
import type { RedisAvailability, RedisBackedStore } from './redis-availability';

export interface RedisFallbackStoreOptions {
  /** The process's shared connection, tuned to fail fast (see redis-client.ts). */
  redis: Pick<Redis, 'call'>;
  /** Put before each key in Redis; unique per limiter. */
  prefix: string;
  availability: RedisAvailability;
}

/**
 * Counts in Redis (rate-limit-redis: one atomic script call per hit) while Redis answers, and in
 * this process's memory while it does not.
 *
 * A store that only passed requests through during an outage (`passOnStoreError`) would switch
 * the limits off exactly when someone may be hammering the API; one that threw would fail the
 * requests. Here a failed Redis command costs the request nothing but the command timeout: it is
 * counted in memory instead, and every later request goes straight to memory until
 * {@link RedisAvailability} finds Redis back. Counts are per process during the outage.
 */
export class RedisFallbackStore implements Store, RedisBackedStore {
  /** Keys are shared between processes through Redis (read by express-rate-limit's checks). */
  readonly localKeys = false;
  /** Read by express-rate-limit's double-count check, which tells limiters apart by it. */
  readonly prefix: string;
  readonly #redisStore: RedisStore;
  readonly #memory = new MemoryStore();
  readonly #availability: RedisAvailability;
  #options: Options | undefined;

  constructor({ redis, prefix, availability }: RedisFallbackStoreOptions) {
    this.prefix = prefix;
    this.#availability = availability;
    this.#redisStore = new RedisStore({
      prefix,
      sendCommand: (command: string, ...args: string[]) =>
        redis.call(command, ...args) as Promise<RedisReply>,
    });
    availability.register(this);
  }

  /** Called once by express-rate-limit; Redis itself is reached later, by {@link connect}. */
  init(options: Options): void {
    this.#options = options;
    this.#memory.init(options);
  }

  async connect(): Promise<void> {
    if (!this.#options) throw new Error('RedisFallbackStore.connect() called before init()');
    await this.#redisStore.init(this.#options);
  }

  async increment(key: string): Promise<IncrementResponse> {
    if (this.#availability.usingRedis) {
      try {
        return await this.#redisStore.increment(key);
      } catch (error) {
        this.#availability.reportFailure(error);
      }
    }
    return this.#memory.increment(key);
  }

  async decrement(key: string): Promise<void> {
    if (this.#availability.usingRedis) {
      try {
        return await this.#redisStore.decrement(key);
      } catch (error) {
        this.#availability.reportFailure(error);
      }
    }
    return this.#memory.decrement(key);
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    if (this.#availability.usingRedis) {
      try {
        return await this.#redisStore.get(key);
      } catch (error) {
        this.#availability.reportFailure(error);
      }
    }
    return this.#memory.get(key);
  }

  /** Forgets the key in memory too: a stale fallback count must not outlive a reset. */
  async resetKey(key: string): Promise<void> {
    await this.#memory.resetKey(key);
    if (!this.#availability.usingRedis) return;
    try {
      await this.#redisStore.resetKey(key);
    } catch (error) {
      this.#availability.reportFailure(error);
    }
  }

  shutdown(): void {
    this.#memory.shutdown();
  }
}
