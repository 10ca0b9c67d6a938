/**
 * Counts route handlers that are still running, so that shutdown can wait for them before it
 * closes what they use.
 *
 * Waiting for connections is not enough: when a client gives up (the request is logged 499),
 * its connection closes at once while the handler goes on awaiting the database. Under load with
 * no drain delay, such handlers were still running when the pool closed, and failed with
 * "Cannot use a pool after calling end on the pool".
 */
export interface InFlightHandlers {
  /** Runs `work`, counted until it settles. */
  track<T>(work: Promise<T>): Promise<T>;
  /** Handlers running now. */
  readonly size: number;
  /** Resolves once no handler is running (at once if none is). */
  idle(): Promise<void>;
}

export function createInFlightHandlers(): InFlightHandlers {
  let running = 0;
  let waiters: Array<() => void> = [];
  const settle = () => {
    running -= 1;
    if (running > 0) return;
    const ready = waiters;
    waiters = [];
    for (const resolve of ready) resolve();
  };
  return {
    track(work) {
      running += 1;
      work.then(settle, settle);
      return work;
    },
    get size() {
      return running;
    },
    idle: () =>
      running === 0 ? Promise.resolve() : new Promise((resolve) => waiters.push(resolve)),
  };
}
