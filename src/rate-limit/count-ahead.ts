import type { Request } from 'express';
import type { ClientRateLimitInfo, IncrementResponse, Options, Store } from 'express-rate-limit';

/**
 * Lets a limiter's count of a request start before the limiter runs, so that the counts of a
 * request's limiters travel together: a refresh's API-wide count and its per-address refresh
 * count leave in the same Redis write (ioredis pipelines the commands of one event-loop turn) and
 * come back in one reply, instead of one round trip after the other.
 *
 * {@link start} sends the count at once and leaves it on the request. The limiter, built with
 * {@link store} and {@link keyGenerator}, runs as before (headers, refusal, reply): its key
 * generator hands the started count to the store, whose next increment of that key answers with
 * it instead of counting again. express-rate-limit always increments right after generating the
 * key, so each handed-over count is used by exactly one increment of its key: if another
 * request's increment of the same key takes it first, that one counts afresh instead, and every
 * request is still counted once. Counts of one key are interchangeable: which request reads
 * which is the order the store answered in, as before.
 *
 * A count started for a request the limiter never sees (the API-wide limit refused it first, or
 * its client went away) is counted all the same, and dropped: callers start counts only while
 * that is unlikely (see RateLimiters.apiHasRoom).
 */
export class CountAhead {
  readonly store: Store;
  readonly #inner: Store;
  readonly #key: (req: Request) => string;
  /** On a request: the count {@link start} sent for it, not yet handed to the store. */
  readonly #started = Symbol('count started ahead');
  /** key -> counts handed over by the key generator, for the store's next increments. */
  readonly #handedOver = new Map<string, Array<Promise<IncrementResponse>>>();

  constructor(inner: Store, key: (req: Request) => string) {
    this.#inner = inner;
    this.#key = key;
    this.store = new HandOverStore(inner, (k) => this.#take(k));
  }

  /** Counts `req` now; its limiter will use this count instead of making its own. */
  start(req: Request): void {
    const key = this.#key(req);
    // Copied as soon as it is known: a memory store answers with its live record of the key,
    // which later requests would have moved on by the time the limiter reads it.
    const count = Promise.resolve(this.#inner.increment(key)).then(
      ({ totalHits, resetTime }): IncrementResponse => ({ totalHits, resetTime }),
    );
    // Read by the limiter, or never (the request ended before it): never an unhandled rejection.
    count.catch(() => {});
    (req as Request & Record<symbol, unknown>)[this.#started] = { key, count };
  }

  /** The limiter's key generator: the key, and the count started for the request, if any. */
  readonly keyGenerator = (req: Request): string => {
    const key = this.#key(req);
    const holder = req as Request &
      Record<symbol, { key: string; count: Promise<IncrementResponse> } | undefined>;
    const started = holder[this.#started];
    if (started) {
      holder[this.#started] = undefined;
      if (started.key === key) {
        const queue = this.#handedOver.get(key);
        if (queue) queue.push(started.count);
        else this.#handedOver.set(key, [started.count]);
      }
    }
    return key;
  };

  #take(key: string): Promise<IncrementResponse> | undefined {
    const queue = this.#handedOver.get(key);
    if (!queue) return undefined;
    const count = queue.shift();
    if (queue.length === 0) this.#handedOver.delete(key);
    return count;
  }
}

/** The limiter's view of the store: an increment takes a handed-over count when there is one. */
class HandOverStore implements Store {
  readonly #inner: Store;
  readonly #take: (key: string) => Promise<IncrementResponse> | undefined;

  constructor(inner: Store, take: (key: string) => Promise<IncrementResponse> | undefined) {
    this.#inner = inner;
    this.#take = take;
  }

  // Read by express-rate-limit's checks (double counting, shared stores): the inner store's.
  get localKeys(): boolean | undefined {
    return this.#inner.localKeys;
  }

  get prefix(): string | undefined {
    return this.#inner.prefix;
  }

  init(options: Options): void | Promise<void> {
    return this.#inner.init?.(options);
  }

  increment(key: string): Promise<IncrementResponse> | IncrementResponse {
    return this.#take(key) ?? this.#inner.increment(key);
  }

  decrement(key: string): Promise<void> | void {
    return this.#inner.decrement(key);
  }

  get(key: string): Promise<ClientRateLimitInfo | undefined> | ClientRateLimitInfo | undefined {
    return this.#inner.get?.(key);
  }

  resetKey(key: string): Promise<void> | void {
    return this.#inner.resetKey(key);
  }

  resetAll(): Promise<void> | void {
    return this.#inner.resetAll?.();
  }

  shutdown(): Promise<void> | void {
    return this.#inner.shutdown?.();
  }
}
