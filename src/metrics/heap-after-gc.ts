import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';

/**
 * The heap in use right after the latest full garbage collection (a mark-compact): the live set,
 * the figure a leak raises. The heap in use at any other moment swings with every collection
 * (under load, between about 40 and 180 MB every minute or two in the bench's soak), so a trend
 * of it says little over minutes.
 *
 * Read when the collection is reported, a moment after it ends, so what the process allocated in
 * between is counted too: little next to the live set, and the same from one collection to the
 * next, so a trend is still the live set's. One observer per process, started by the first
 * call and never stopped, as prom-client's own GC observer: a collection is the process's,
 * however many apps it builds.
 *
 * @returns the reader: bytes, or undefined before the first full collection since the first call.
 */
export function watchHeapAfterGc(): () => number | undefined {
  observer ??= startObserver();
  return () => latest;
}

let observer: PerformanceObserver | undefined;
let latest: number | undefined;

function startObserver(): PerformanceObserver {
  const gcObserver = new PerformanceObserver((list) => {
    const full = list
      .getEntries()
      .some(
        (entry: PerformanceEntry & { detail?: { kind?: number } | null }) =>
          entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR,
      );
    if (full) latest = getHeapStatistics().used_heap_size;
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  return gcObserver;
}
