import type { Redis } from '../redis/redis-client';
import type { RedisAvailability } from './redis-availability';

/**
 * Progressive delay per account, across every client address (ASVS 5.0 6.3.1): the first
 * `afterFailures` password attempts at an account run at once; after that, each attempt must
 * wait `baseMs` after the previous one, doubling each time, at most `maxMs`. A success resets
 * the account. An attempt refused while it must wait does not count, so an attacker cannot
 * push the wait past `maxMs`: a victim is slowed, never locked out for longer than that.
 *
 * Every admitted attempt counts as a failure until the reply says otherwise (the sign-in policy
 * calls {@link SignInDelay.reset} on a 2xx), so concurrent guesses cannot slip in between a
 * check and the count.
 */
export interface SignInDelayOptions {
  afterFailures: number;
  baseMs: number;
  maxMs: number;
}

/** Whether an attempt may run now, and if not, how long until it may. */
export type DelayDecision = { allowed: true } | { allowed: false; retryAfterMs: number };

export interface SignInDelay {
  /** Admits (and counts) an attempt at `account`, or says how long it must wait. */
  attempt(account: string): Promise<DelayDecision>;
  /** Forgets the account's attempts: it signed in (or set a password) successfully. */
  reset(account: string): Promise<void>;
  close(): void;
}

/** An account's count: attempts since the last success, and when the next one may run. */
interface AccountState {
  attempts: number;
  nextAt: number;
  /** When the state is forgotten if nothing happens meanwhile. */
  expiresAt: number;
}

/** How long an account's attempts are remembered after the last one (and at least 2 x maxMs). */
export const FORGET_AFTER_MS = 24 * 60 * 60_000;

/** The wait after the `attempts`-th attempt without a success. */
export function waitAfter(attempts: number, { afterFailures, baseMs, maxMs }: SignInDelayOptions) {
  if (attempts < afterFailures) return 0;
  return Math.min(baseMs * 2 ** (attempts - afterFailures), maxMs);
}

/**
 * The count in this process's memory: the store without Redis, and the shadow of the Redis
 * store (it mirrors what Redis last said, plus what this process admitted while Redis did not
 * answer). Entries expire {@link FORGET_AFTER_MS} after their last attempt; at most `maxEntries`
 * are kept, the oldest dropped first (a flood of random emails cannot grow it without bound).
 */
export class MemorySignInDelay implements SignInDelay {
  readonly #options: SignInDelayOptions;
  readonly #now: () => number;
  readonly #maxEntries: number;
  readonly #forgetAfterMs: number;
  readonly #accounts = new Map<string, AccountState>();
  readonly #sweep: NodeJS.Timeout;

  constructor(
    options: SignInDelayOptions,
    { now = Date.now, maxEntries = 100_000 }: { now?: () => number; maxEntries?: number } = {},
  ) {
    this.#options = options;
    this.#now = now;
    this.#maxEntries = maxEntries;
    this.#forgetAfterMs = Math.max(FORGET_AFTER_MS, 2 * options.maxMs);
    this.#sweep = setInterval(() => this.#forgetExpired(), 60_000);
    this.#sweep.unref();
  }

  attempt(account: string): Promise<DelayDecision> {
    return Promise.resolve(this.attemptNow(account));
  }

  /** {@link attempt}, synchronously: the Redis store's fallback. */
  attemptNow(account: string): DelayDecision {
    const now = this.#now();
    const state = this.#live(account, now);
    if (state && now < state.nextAt) return { allowed: false, retryAfterMs: state.nextAt - now };
    const attempts = (state?.attempts ?? 0) + 1;
    this.mirror(account, attempts, now + waitAfter(attempts, this.#options));
    return { allowed: true };
  }

  /** Records an account's state as the shared store has it. */
  mirror(account: string, attempts: number, nextAt: number): void {
    // Re-inserted at the end: the map stays ordered by last use, oldest first.
    this.#accounts.delete(account);
    this.#accounts.set(account, { attempts, nextAt, expiresAt: this.#now() + this.#forgetAfterMs });
    if (this.#accounts.size > this.#maxEntries) {
      const oldest = this.#accounts.keys().next().value;
      if (oldest !== undefined) this.#accounts.delete(oldest);
    }
  }

  reset(account: string): Promise<void> {
    this.#accounts.delete(account);
    return Promise.resolve();
  }

  close(): void {
    clearInterval(this.#sweep);
  }

  #live(account: string, now: number): AccountState | undefined {
    const state = this.#accounts.get(account);
    if (state && state.expiresAt <= now) {
      this.#accounts.delete(account);
      return undefined;
    }
    return state;
  }

  #forgetExpired(): void {
    const now = this.#now();
    for (const [account, state] of this.#accounts) {
      if (state.expiresAt <= now) this.#accounts.delete(account);
    }
  }
}

/**
 * One atomic step in Redis: refuse while the account must wait, else count the attempt and set
 * when the next may run. Returns { wait in ms (0: admitted), attempts, next allowed at }.
 * The clock is the app's (replicas are NTP-synchronised; the waits are seconds).
 */
const ATTEMPT_SCRIPT = `
local now = tonumber(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'n', 'next')
local n = tonumber(state[1]) or 0
local nextAt = tonumber(state[2]) or 0
if now < nextAt then return {nextAt - now, n, nextAt} end
n = n + 1
local k = tonumber(ARGV[2])
local wait = 0
if n >= k then wait = math.min(tonumber(ARGV[3]) * 2 ^ (n - k), tonumber(ARGV[4])) end
redis.call('HSET', KEYS[1], 'n', n, 'next', now + wait)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {0, n, now + wait}
`;

/**
 * The count in Redis, shared by every replica and worker, with a memory shadow: every answer
 * from Redis is mirrored in memory, and while Redis does not answer (see RedisAvailability) the
 * shadow decides, starting from what Redis last said, so an outage never resets an account.
 */
export class RedisSignInDelay implements SignInDelay {
  readonly #redis: Pick<Redis, 'call'>;
  readonly #prefix: string;
  readonly #availability: RedisAvailability;
  readonly #options: SignInDelayOptions;
  readonly #shadow: MemorySignInDelay;
  readonly #now: () => number;
  readonly #ttlMs: number;

  constructor({
    redis,
    prefix,
    availability,
    options,
    now = Date.now,
  }: {
    redis: Pick<Redis, 'call'>;
    prefix: string;
    availability: RedisAvailability;
    options: SignInDelayOptions;
    now?: () => number;
  }) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#availability = availability;
    this.#options = options;
    this.#now = now;
    this.#shadow = new MemorySignInDelay(options, { now });
    this.#ttlMs = Math.max(FORGET_AFTER_MS, 2 * options.maxMs);
  }

  async attempt(account: string): Promise<DelayDecision> {
    if (this.#availability.usingRedis) {
      const now = this.#now();
      try {
        const [wait, attempts, nextAt] = (await this.#redis.call(
          'EVAL',
          ATTEMPT_SCRIPT,
          '1',
          `${this.#prefix}${account}`,
          String(now),
          String(this.#options.afterFailures),
          String(this.#options.baseMs),
          String(this.#options.maxMs),
          String(this.#ttlMs),
        )) as [number, number, number];
        this.#availability.reportSuccess();
        this.#shadow.mirror(account, attempts, nextAt);
        return wait > 0 ? { allowed: false, retryAfterMs: wait } : { allowed: true };
      } catch (error) {
        this.#availability.reportFailure(error);
      }
    }
    return this.#shadow.attemptNow(account);
  }

  async reset(account: string): Promise<void> {
    await this.#shadow.reset(account);
    if (!this.#availability.usingRedis) return;
    try {
      await this.#redis.call('DEL', `${this.#prefix}${account}`);
      this.#availability.reportSuccess();
    } catch (error) {
      this.#availability.reportFailure(error);
    }
  }

  close(): void {
    this.#shadow.close();
  }
}
