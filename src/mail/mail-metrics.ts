import { Counter, Gauge, type Registry } from 'prom-client';
import { METRIC } from '../metrics/metric-names';
import type { MailOutboxRepository } from './mail-outbox.repository';

/** What the outbox sender counts, by message kind (`verify-email`, `password-reset`, ...). */
export interface MailMetrics {
  sent(kind: string): void;
  /** An attempt that failed; the message may still be retried. */
  sendError(kind: string): void;
  /** A message given up on: it stays in the outbox as `failed`. */
  failed(kind: string): void;
}

/**
 * Registers the mail metrics in `registry` (the process's, see metrics/metrics.ts). The counters
 * are this process's; in a cluster they are summed over the workers. The outbox gauge is read from
 * the database when scraped, so every process reports the same figure: the cluster takes the
 * largest rather than adding them up.
 */
export function createMailMetrics(
  registry: Registry,
  outbox: Pick<MailOutboxRepository, 'countUnsent'>,
): MailMetrics {
  const registers = [registry];
  const sent = new Counter({
    name: METRIC.mailSent,
    help: 'Messages handed to the mail transport, by kind.',
    labelNames: ['kind'],
    registers,
  });
  const failed = new Counter({
    name: METRIC.mailFailed,
    help: 'Messages given up on after their last attempt (or a permanent rejection), by kind.',
    labelNames: ['kind'],
    registers,
  });
  const sendErrors = new Counter({
    name: METRIC.mailSendErrors,
    help: 'Send attempts that failed (each retried until MAIL_MAX_ATTEMPTS), by kind.',
    labelNames: ['kind'],
    registers,
  });
  new Gauge({
    name: METRIC.mailOutbox,
    help: 'Messages in the outbox waiting to be sent (pending) or given up on (failed).',
    labelNames: ['status'],
    registers,
    aggregator: 'max',
    async collect() {
      try {
        const { pending, failed: given } = await outbox.countUnsent();
        this.set({ status: 'pending' }, pending);
        this.set({ status: 'failed' }, given);
      } catch {
        // The database is down: the last figures stay, and readiness says why.
      }
    },
  });
  return {
    sent: (kind) => sent.inc({ kind }),
    sendError: (kind) => sendErrors.inc({ kind }),
    failed: (kind) => failed.inc({ kind }),
  };
}
