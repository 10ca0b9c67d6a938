import type { Logger } from '../logger';
import type { MailMetrics } from './mail-metrics';
import type { MailOutboxRepository } from './mail-outbox.repository';
import { isPermanentFailure, type MailTransport, type OutboxMessage } from './mail-transport';

/** The outbox sender of one process. */
export interface MailSender {
  /**
   * Looks for due messages now, instead of at the next poll: call it once a transaction that
   * queued a message has committed. Never waits, never throws; the request that queued the
   * message does not wait for SMTP.
   */
  wake(): void;
  /** Claims nothing more and resolves once the messages already claimed are sent or rescheduled. */
  stop(): Promise<void>;
}

export interface MailSenderOptions {
  outbox: MailOutboxRepository;
  transport: MailTransport;
  metrics: MailMetrics;
  logger: Logger;
  /** The backstop poll (`MAIL_POLL_INTERVAL_MS`); `0` starts no sender in this process. */
  pollIntervalMs: number;
  /** `MAIL_MAX_ATTEMPTS`. */
  maxAttempts: number;
  /** `MAIL_BODY_RETENTION_MS` and `MAIL_RETENTION_DAYS`: what {@link MailOutboxRepository.prune} keeps. */
  retention?: { bodyMs: number; days: number; everyMs?: number };
  /** `MAIL_RETRY_BASE_MS` and `MAIL_RETRY_MAX_MS`. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** How long a claimed message stays this process's before another may send it. */
  leaseMs: number;
  /** Messages claimed, and sent in parallel, at once (default 4). */
  batchSize?: number;
  /** Tests of the backoff's jitter pass their own. */
  random?: () => number;
}

/**
 * The wait before attempt `attempts + 1`: `baseMs` doubled per failed attempt, at most `maxMs`,
 * then "equal jitter" (between half of it and all of it), so the messages of one outage, or the
 * replicas retrying them, do not all come back at the same moment.
 */
export function retryDelayMs(
  attempts: number,
  { baseMs, maxMs }: { baseMs: number; maxMs: number },
  random: () => number = Math.random,
): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.min(attempts - 1, 30));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}

/** What `last_error` keeps: the transport's code (ECONNREFUSED, EENVELOPE...) and message. */
function describeError(error: unknown): string {
  const { code, message } = error as { code?: unknown; message?: unknown };
  const text = typeof message === 'string' ? message : String(error);
  return typeof code === 'string' && !text.includes(code) ? `${code}: ${text}` : text;
}

/**
 * Starts the outbox sender of this process (every server process runs one: each replica, each
 * cluster worker). It claims due rows of `mail_outbox` in small batches (see
 * {@link MailOutboxRepository.claimDue}: one committed statement, a lease, `SKIP LOCKED`), sends
 * each with its stable Message-ID, and records the outcome: `sent`; or a retry after an
 * exponential backoff; or, after `maxAttempts` (or a permanent rejection), `failed`, with the
 * error kept, an error-level log line and `mail_failed_total`. It drains what is due, then waits
 * for {@link MailSender.wake} or the next poll.
 *
 * At least once: a process that dies after claiming leaves the row to the next claim after the
 * lease; a send that succeeded but could not be recorded is repeated the same way. In normal
 * operation a message is claimed, so sent, once.
 */
export function startMailSender(options: MailSenderOptions): MailSender {
  const { outbox, transport, metrics, logger, pollIntervalMs, maxAttempts, leaseMs } = options;
  const { batchSize = 4, random = Math.random } = options;
  if (pollIntervalMs <= 0) {
    logger.info('mail sender not started in this process (MAIL_POLL_INTERVAL_MS=0)');
    return { wake() {}, stop: async () => {} };
  }

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let wokenWhileRunning = false;
  let stopped = false;
  let outboxUnreachable = false;

  const attemptFailed = async (message: OutboxMessage, error: unknown) => {
    metrics.sendError(message.kind);
    const reason = describeError(error);
    const mail = { messageId: message.messageId, kind: message.kind, attempts: message.attempts };
    if (message.attempts >= maxAttempts || isPermanentFailure(error)) {
      await outbox.markFailed(message, reason);
      metrics.failed(message.kind);
      logger.error(
        { mail, error: reason },
        'mail not sent: given up, kept as failed in the outbox',
      );
      return;
    }
    const delayMs = retryDelayMs(
      message.attempts,
      { baseMs: options.retryBaseMs, maxMs: options.retryMaxMs },
      random,
    );
    await outbox.scheduleRetry(message, delayMs, reason);
    logger.warn({ mail, error: reason, retryInMs: delayMs }, 'mail not sent; will retry');
  };

  const send = async (message: OutboxMessage) => {
    try {
      await transport.send(message);
    } catch (error) {
      await attemptFailed(message, error);
      return;
    }
    metrics.sent(message.kind);
    try {
      await outbox.markSent(message);
    } catch (error) {
      logger.error(
        { mail: { messageId: message.messageId, kind: message.kind }, err: error },
        'mail sent, but not recorded as sent: it will be sent again once its lease is over',
      );
      return;
    }
    logger.debug({ mail: { messageId: message.messageId, kind: message.kind } }, 'mail sent');
  };

  let prunedAt = 0;
  /** At most once a minute: blanks delivered bodies and deletes old rows (see prune). */
  const prune = async () => {
    const { retention } = options;
    if (!retention || Date.now() - prunedAt < (retention.everyMs ?? 60_000)) return;
    prunedAt = Date.now();
    const pruned = await outbox.prune(retention.bodyMs, retention.days);
    if (pruned > 0) logger.debug({ pruned }, 'mail outbox pruned');
  };

  /** Sends what is due, batch after batch, until nothing is (or the sender stops). */
  const drain = async () => {
    try {
      await prune();
      while (!stopped) {
        const batch = await outbox.claimDue(batchSize, leaseMs);
        if (outboxUnreachable) {
          outboxUnreachable = false;
          logger.info('mail outbox reachable again');
        }
        if (batch.length === 0) return;
        await Promise.all(batch.map(send));
      }
    } catch (error) {
      // One line per outage, not one per poll.
      if (!outboxUnreachable) logger.warn({ err: error }, 'mail outbox unreachable; will retry');
      outboxUnreachable = true;
    }
  };

  const run = () => {
    if (stopped) return;
    if (running) {
      wokenWhileRunning = true;
      return;
    }
    clearTimeout(timer);
    running = drain().finally(() => {
      running = undefined;
      if (stopped) return;
      if (wokenWhileRunning) {
        // A message queued while this round ran may have been committed after its last claim.
        wokenWhileRunning = false;
        run();
      } else {
        timer = setTimeout(run, pollIntervalMs).unref();
      }
    });
  };

  // What is due already (queued before a restart, or a crash) goes out now.
  timer = setTimeout(run, 0).unref();
  logger.info({ transport: transport.kind, pollIntervalMs }, 'mail sender started');
  return {
    wake: run,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
