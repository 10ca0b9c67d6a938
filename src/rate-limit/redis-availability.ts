import type { Logger } from '../logger';
import type { Redis } from '../redis/redis-client';

/** A store that must be (re)initialised on Redis before it may count there. */
export interface RedisBackedStore {
  /** Loads what the store needs on the Redis server (its scripts); rejects if Redis fails. */
  connect(): Promise<void>;
}

export interface RedisAvailabilityOptions {
  redis: Pick<Redis, 'status' | 'on' | 'off'>;
  logger: Logger;
  /** How long Redis may take to come up at start-up before its absence is logged as an outage. */
  startupGraceMs: number;
  /** How often to check whether Redis is back during an outage. */
  retryIntervalMs?: number;
  /**
   * Failed commands in a row (no success between them) that switch counting to memory. One
   * slow command (a timeout from event-loop lag, say) must not: it is answered from the
   * stores' shadow counts and Redis keeps counting. A lost connection switches at once.
   */
  failureThreshold?: number;
}

/**
 * Decides, for all the rate limiters of a process at once, whether counts go to Redis or to
 * each limiter's in-memory fallback.
 *
 * One shared decision rather than one per limiter: an outage is logged once (and the recovery
 * once), and every limiter switches together, so `/health/ready` and metrics have one state to
 * report. The switch to memory happens when the connection closes, or after `failureThreshold`
 * failed commands in a row: a single slow command does not switch anything (the request that
 * issued it is decided from the memory shadow every store keeps, see redis-fallback-store.ts).
 * The way back is a probe that reloads every store's scripts (a Redis that restarted empty has
 * none), run when the connection becomes ready again and every `retryIntervalMs` while
 * degraded, so a Redis that stalls without disconnecting is noticed too.
 */
export class RedisAvailability {
  readonly #redis: RedisAvailabilityOptions['redis'];
  readonly #logger: Logger;
  readonly #startupGraceMs: number;
  readonly #retryIntervalMs: number;
  readonly #failureThreshold: number;
  #failuresInARow = 0;
  readonly #stores: RedisBackedStore[] = [];
  readonly #startedAt = Date.now();
  #usingRedis = false;
  // Counting has not reached Redis yet at start-up: that is reported as degraded, but only
  // logged as an outage once the grace period has passed.
  #degradedSince: Date | undefined = new Date();
  #outageLogged = false;
  #probing = false;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #onReady = () => void this.#probe();
  readonly #onClose = () => this.#degrade(new Error('the Redis connection closed'));

  constructor({
    redis,
    logger,
    startupGraceMs,
    retryIntervalMs = 1_000,
    failureThreshold = 3,
  }: RedisAvailabilityOptions) {
    this.#redis = redis;
    this.#logger = logger;
    this.#startupGraceMs = startupGraceMs;
    this.#retryIntervalMs = retryIntervalMs;
    this.#failureThreshold = failureThreshold;
  }

  /** True while counts go to Redis. Read on every request: a field read, no work. */
  get usingRedis(): boolean {
    return this.#usingRedis;
  }

  /** When counting left Redis (or start-up began); undefined while Redis counts. */
  get degradedSince(): Date | undefined {
    return this.#degradedSince;
  }

  /** Adds a store to (re)initialise before counting returns to Redis. */
  register(store: RedisBackedStore): void {
    this.#stores.push(store);
  }

  /** Starts watching Redis: call once every store is registered and initialised. */
  start(): void {
    this.#redis.on('ready', this.#onReady);
    this.#redis.on('close', this.#onClose);
    void this.#probe();
  }

  /** Stops the retry timer and the connection listener. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#redis.off('ready', this.#onReady);
    this.#redis.off('close', this.#onClose);
  }

  /** Called by a store whose Redis command succeeded: the run of failures is over. */
  reportSuccess(): void {
    this.#failuresInARow = 0;
  }

  /**
   * Called by a store whose Redis command failed. After `failureThreshold` in a row every
   * limiter switches to memory, and the outage is logged once, however many requests were in
   * flight when it began.
   */
  reportFailure(error: unknown): void {
    if (!this.#usingRedis) return;
    if (++this.#failuresInARow < this.#failureThreshold) return;
    this.#degrade(error);
  }

  #degrade(error: unknown): void {
    if (!this.#usingRedis) return;
    this.#usingRedis = false;
    this.#failuresInARow = 0;
    this.#degradedSince = new Date();
    this.#logOutage(error);
    this.#scheduleProbe();
  }

  async #probe(): Promise<void> {
    if (this.#usingRedis || this.#probing || this.#closed) return;
    this.#probing = true;
    clearTimeout(this.#timer);
    try {
      // Commands fail at once while disconnected (no offline queue): skip the attempt.
      if (this.#redis.status !== 'ready') {
        throw new Error(`the Redis connection is ${this.#redis.status}`);
      }
      await Promise.all(this.#stores.map((store) => store.connect()));
      if (this.#closed) return;
      const since = this.#degradedSince;
      this.#usingRedis = true;
      this.#failuresInARow = 0;
      this.#degradedSince = undefined;
      if (this.#outageLogged && since) {
        this.#logger.info(
          { store: 'redis', scope: 'fleet', degradedForMs: Date.now() - since.getTime() },
          'rate limiting: Redis is back; limits count in Redis again, shared by every instance',
        );
      }
      this.#outageLogged = false;
    } catch (error) {
      if (Date.now() - this.#startedAt >= this.#startupGraceMs) this.#logOutage(error);
      this.#scheduleProbe();
    } finally {
      this.#probing = false;
    }
  }

  #logOutage(error: unknown): void {
    if (this.#outageLogged) return;
    this.#outageLogged = true;
    this.#logger.warn(
      { err: error, store: 'memory-fallback', scope: 'process' },
      'rate limiting: Redis is unavailable; limits now count in this process only until it answers again',
    );
  }

  #scheduleProbe(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#probe(), this.#retryIntervalMs);
    // An outage must not keep a finished process alive.
    this.#timer.unref();
  }
}
