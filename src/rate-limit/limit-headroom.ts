/**
 * What this process knows of each client's remaining allowance under one limiter, so that work
 * which a refusal would make useless (the session check of an authenticated request) can start
 * while the limiter's count is still on its way to Redis, and only then.
 *
 * Per key it keeps a pessimistic estimate of the requests left in the current window:
 * - a request entering the limiter takes one off at once (before its count comes back);
 * - a count coming back lowers the estimate to what the store said was left, never raises it
 *   (counts in a window only grow; replies that overtake one another carry older, higher values);
 * - a key is first learnt from a count, minus the requests of that key still on their way;
 * - the estimate ends with the window the store reported (the key is then unknown again).
 * {@link reserve} says yes only while the estimate is above the margin, and takes the request's
 * one off itself.
 *
 * With one counting process, whose counts reach the store in the order its requests entered (one
 * connection; the memory stores count synchronously), a request given a yes had at least the
 * margin left after every request ahead of it and itself, so the limiter never refuses it: a
 * flood over the limit costs no early database read at all.
 * With several processes sharing a count (Redis), the others' requests are not seen until a count
 * comes back: the margin is the room left for them, and at the first count at or below it this
 * process stops starting checks early until the window ends. Either way a flood costs a bounded
 * number of early reads per key and window, never one per request.
 *
 * Bounded: at most `maxKeys` keys; the oldest is forgotten first (it is then unknown: no early
 * check, never a wrong one).
 */
export class LimitHeadroom {
  readonly #margin: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  /** key -> estimate of the requests left, and when the store said its window ends. */
  readonly #known = new Map<string, { left: number; resetAt: number }>();
  /** key -> requests counted by the limiter whose count has not come back yet. */
  readonly #pending = new Map<string, number>();

  constructor({
    margin,
    maxKeys = 10_000,
    now = Date.now,
  }: {
    margin: number;
    maxKeys?: number;
    now?: () => number;
  }) {
    this.#margin = margin;
    this.#maxKeys = maxKeys;
    this.#now = now;
  }

  /**
   * Whether a request of `key` may start its early work: yes while more than the margin is left.
   * A yes counts the request (call {@link enter} with `reserved: true` for it).
   */
  reserve(key: string): boolean {
    const entry = this.#current(key);
    if (!entry || entry.left <= this.#margin) return false;
    entry.left -= 1;
    return true;
  }

  /** A request of `key` is being counted (`reserved`: {@link reserve} already took it off). */
  enter(key: string, reserved: boolean): void {
    this.#pending.set(key, (this.#pending.get(key) ?? 0) + 1);
    if (!reserved) {
      const entry = this.#current(key);
      if (entry) entry.left -= 1;
    }
  }

  /**
   * The count of a request of `key` came back: `left` requests remain until `resetAt`. Without a
   * count (the store failed, or the limiter skipped the request), call it with `undefined`.
   */
  settle(key: string, count: { left: number; resetAt: number } | undefined): void {
    const pending = (this.#pending.get(key) ?? 1) - 1;
    if (pending > 0) this.#pending.set(key, pending);
    else this.#pending.delete(key);
    if (!count) return;
    const entry = this.#current(key);
    if (entry) {
      entry.left = Math.min(entry.left, count.left);
      return;
    }
    if (count.resetAt <= this.#now()) return;
    if (this.#known.size >= this.#maxKeys) {
      const oldest = this.#known.keys().next().value;
      if (oldest !== undefined) this.#known.delete(oldest);
    }
    this.#known.set(key, { left: count.left - pending, resetAt: count.resetAt });
  }

  /** Keys known now (for tests and metrics). */
  get size(): number {
    return this.#known.size;
  }

  #current(key: string) {
    const entry = this.#known.get(key);
    if (entry && entry.resetAt <= this.#now()) {
      this.#known.delete(key);
      return undefined;
    }
    return entry;
  }
}
