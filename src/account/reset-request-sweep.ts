import type { Logger } from '../logger';
import { RESET_REQUEST_SWEEP_BATCH, type AccountService } from './account.service';

export interface ResetRequestSweepOptions {
  account: Pick<AccountService, 'sweepResetRequests'>;
  logger: Logger;
  intervalMs: number;
}

/**
 * Mails, every `intervalMs`, the password reset requests whose processing after the reply never
 * ran or failed (the process crashed, the database blipped): what makes a 202 from `forgot` a
 * promise. Every server process runs it; they claim different requests (SKIP LOCKED). The first
 * run comes after a random part of the interval, so a fleet started together does not sweep in
 * lockstep, and a restarted process recovers what its predecessor left within one interval.
 *
 * @returns a function that stops the sweep, resolving once a running sweep has finished (so the
 * database is not closed under it).
 */
export function startResetRequestSweep({
  account,
  logger,
  intervalMs,
}: ResetRequestSweepOptions): () => Promise<void> {
  let timer: NodeJS.Timeout;
  let running: Promise<void> = Promise.resolve();
  // A stop that lands while a sweep runs must also keep that run from scheduling the next.
  let stopped = false;
  const run = async () => {
    try {
      // A full batch means more may be waiting: sweep again at once rather than an interval later.
      for (;;) {
        const { processed, dropped } = await account.sweepResetRequests();
        if (processed > 0 || dropped > 0) {
          logger.info(
            { processed, dropped },
            'swept password reset requests left behind (processed: mailed if an account uses the address; dropped: older than a reset link lives)',
          );
        }
        if (stopped || processed < RESET_REQUEST_SWEEP_BATCH) break;
      }
    } catch (error) {
      logger.warn({ err: error }, 'sweeping password reset requests failed; will retry');
    }
    if (!stopped) timer = setTimeout(tick, intervalMs).unref();
  };
  const tick = () => {
    running = run();
  };
  timer = setTimeout(tick, Math.random() * intervalMs).unref();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
