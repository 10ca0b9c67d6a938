import type { Logger } from '../logger';
import type { AuthRepository } from './auth.repository';

export interface TokenPurgeOptions {
  repository: Pick<AuthRepository, 'purgeExpired'>;
  logger: Logger;
  intervalMs: number;
  /** A revoked session is kept this long: until every refresh token it issued has expired. */
  refreshTtlSeconds: number;
}

/**
 * Periodically deletes expired and long-revoked sessions and tokens. Every replica runs it; the
 * deletes skip rows another replica is deleting, and the first run is delayed by a random part
 * of the interval so a fleet started together does not purge in lockstep.
 *
 * @returns a function that stops the job.
 */
export function startTokenPurge({
  repository,
  logger,
  intervalMs,
  refreshTtlSeconds,
}: TokenPurgeOptions): () => void {
  if (intervalMs <= 0) return () => {};
  let timer: NodeJS.Timeout;
  // A stop that lands while a purge runs must also keep that run from scheduling the next.
  let stopped = false;
  const run = async () => {
    const now = new Date();
    try {
      const deleted = await repository.purgeExpired(
        now,
        new Date(now.getTime() - refreshTtlSeconds * 1000),
      );
      if (deleted > 0) logger.info({ deleted }, 'purged expired sessions and refresh tokens');
    } catch (error) {
      logger.warn({ err: error }, 'purging expired sessions failed; will retry');
    }
    if (!stopped) timer = setTimeout(() => void run(), intervalMs).unref();
  };
  timer = setTimeout(() => void run(), Math.random() * intervalMs).unref();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
