import type { Logger } from '../logger';

/** What a worker sends the primary to be replaced gracefully. */
export const RECYCLE_MESSAGE = 'app:worker:recycle';

/**
 * In a cluster worker: when resident memory stays above `limitMb` for two checks in a row, ask
 * the primary (once) to replace this worker. The primary starts a new worker first and then
 * drains this one, so no request is dropped; a leak is contained until it is fixed.
 *
 * @returns a function that stops watching.
 */
export function watchWorkerMemory({
  limitMb,
  logger,
  intervalMs = 10_000,
}: {
  limitMb: number;
  logger: Logger;
  intervalMs?: number;
}): () => void {
  let over = 0;
  const timer = setInterval(() => {
    const rssMb = Math.round(process.memoryUsage.rss() / 1024 / 1024);
    over = rssMb > limitMb ? over + 1 : 0;
    if (over < 2) return;
    logger.warn({ rssMb, limitMb }, 'worker above its memory limit: asking to be replaced');
    process.send?.({ type: RECYCLE_MESSAGE, rssMb, limitMb });
    clearInterval(timer);
  }, intervalMs).unref();
  return () => clearInterval(timer);
}
