/**
 * A cap on the password checks of one account running at once in this process: the hasher's
 * fairness. The hasher runs a few hashes at once and queues the rest, first come first served,
 * so without a cap one account's 250 concurrent requests queued 250 argon2 runs ahead of
 * everyone else's sign-in (8.7 s instead of 50 ms for another user's login, in the audit).
 * With it, one account holds at most `max` places in the queue and the others are refused at
 * once (429 `TOO_MANY_CONCURRENT_ATTEMPTS`), before any hashing.
 *
 * In memory, per process: the cap is about this process's hasher queue, which nothing else
 * shares (N processes run N x `max` checks of one account at most).
 */
export class AccountConcurrency {
  readonly #max: number;
  readonly #running = new Map<string, number>();

  constructor(max: number) {
    this.#max = max;
  }

  /** Takes a place for `account`: the function that gives it back, or undefined when full. */
  tryAcquire(account: string): (() => void) | undefined {
    const running = this.#running.get(account) ?? 0;
    if (running >= this.#max) return undefined;
    this.#running.set(account, running + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#running.get(account) ?? 1) - 1;
      if (left > 0) this.#running.set(account, left);
      else this.#running.delete(account);
    };
  }

  /** Checks of `account` running now (tests and metrics). */
  running(account: string): number {
    return this.#running.get(account) ?? 0;
  }
}
