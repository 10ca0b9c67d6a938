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
 * this process's memory while it does not, without handing out fresh allowances.
 *
 * A store that only passed requests through during an outage (`passOnStoreError`) would switch
 * the limits off exactly when someone may be hammering the API; one that threw would fail the
 * requests; one that started an empty count would give every client a new allowance. Here every
 * hit is also counted in a memory shadow, always, so the fallback starts from what this process
 * saw in the window:
 * - while Redis answers, a client's count is the larger of Redis's and the shadow's (they differ
 *   only after Redis lost its data, say by restarting empty: the shadow then keeps what it saw);
 * - a failed or slow command is answered from the shadow, and after enough failures in a row
 *   (or a closed connection) {@link RedisAvailability} sends every later hit straight to it until
 *   Redis is back.
 * So with one process a client never gets more than the limit per window, outage or not; with N
 * processes counting on their own during an outage, at most N x the limit (each stops its share
 * at the limit, counting the hits it saw before the outage too). The shadow costs one map update
 * per hit.
 */
export class RedisFallbackStore implements Store, RedisBackedStore {
  /** Keys are shared between processes through Redis (read by express-rate-limit's checks). */
  readonly localKeys = false;
  /** Read by express-rate-limit's double-count check, which tells limiters apart by it. */
  readonly prefix: string;
  readonly #redisStore: RedisStore;
  /** Every hit this process saw in the window: the fallback, and a floor under Redis's count. */
  readonly #shadow = new MemoryStore();
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
    this.#shadow.init(options);
  }

  async connect(): Promise<void> {
    if (!this.#options) throw new Error('RedisFallbackStore.connect() called before init()');
    await this.#redisStore.init(this.#options);
  }

  async increment(key: string): Promise<IncrementResponse> {
    const seen = await this.#shadow.increment(key);
    const shared = await this.#fromRedis(() => this.#redisStore.increment(key));
    return shared && shared.totalHits >= seen.totalHits ? shared : seen;
  }

  async decrement(key: string): Promise<void> {
    await this.#shadow.decrement(key);
    await this.#fromRedis(() => this.#redisStore.decrement(key));
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const seen = await this.#shadow.get(key);
    const shared = await this.#fromRedis(() => this.#redisStore.get(key));
    if (!shared) return seen;
    return seen && seen.totalHits > shared.totalHits ? seen : shared;
  }

  /** Forgets the key in the shadow too: a stale count must not outlive a reset. */
  async resetKey(key: string): Promise<void> {
    await this.#shadow.resetKey(key);
    await this.#fromRedis(() => this.#redisStore.resetKey(key));
  }

  shutdown(): void {
    this.#shadow.shutdown();
  }

  /** Runs a Redis command while Redis counts; undefined when it does not or the command fails. */
  async #fromRedis<T>(command: () => Promise<T>): Promise<T | undefined> {
    if (!this.#availability.usingRedis) return undefined;
    try {
      const result = await command();
      this.#availability.reportSuccess();
      return result;
    } catch (error) {
      this.#availability.reportFailure(error);
      return undefined;
    }
  }
}
