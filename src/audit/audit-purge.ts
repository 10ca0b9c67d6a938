import type { Logger } from '../logger';
import type { AuditRepository } from './audit.repository';

export interface AuditPurgeOptions {
  repository: Pick<AuditRepository, 'purgeOlderThan'>;
  logger: Logger;
  /** `AUDIT_RETENTION_DAYS`: events older than this are deleted; 0 keeps them forever. */
  retentionDays: number;
  /** `AUDIT_PURGE_INTERVAL_MS`; 0 disables the job. */
  intervalMs: number;
  now?: () => Date;
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * Periodically deletes audit events past their retention. Every replica runs it; the batched
 * deletes skip rows another replica is deleting (audit.repository.ts), and the first run is
 * delayed by a random part of the interval so a fleet started together does not purge in
 * lockstep.
 *
 * @returns a function that stops the job.
 */
export function startAuditPurge({
  repository,
  logger,
  retentionDays,
  intervalMs,
  now = () => new Date(),
}: AuditPurgeOptions): () => void {
  if (intervalMs <= 0 || retentionDays <= 0) return () => {};
  let timer: NodeJS.Timeout;
  // A stop that lands while a purge runs must also keep that run from scheduling the next.
  let stopped = false;
  const run = async () => {
    try {
      const before = new Date(now().getTime() - retentionDays * DAY_MS);
      const deleted = await repository.purgeOlderThan(before);
      if (deleted > 0) {
        logger.info(
          { deleted, before: before.toISOString() },
          'purged audit events past retention',
        );
      }
    } catch (error) {
      logger.warn({ err: error }, 'purging old audit events failed; will retry');
    }
    if (!stopped) timer = setTimeout(() => void run(), intervalMs).unref();
  };
  timer = setTimeout(() => void run(), Math.random() * intervalMs).unref();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
