import type { Database, SqlStatement } from '../db/database';
import type { OutboxMessage } from './mail-transport';

/**
 * The outbox sender's side of `mail_outbox` (the write side is mail-outbox.ts). Each change is
 * one statement, committed on its own: no transaction is ever held open while a message travels
 * to the SMTP server. Times are the database's (`now()`), so replicas with drifting clocks agree
 * on what is due and on when a lease ends.
 *
 * Every parameter carries an explicit cast: the same text runs on node-postgres and on PGlite.
 */

interface ClaimedRow {
  id: string;
  message_id: string;
  kind: string;
  to_address: string;
  subject: string;
  text_body: string;
  html_body: string | null;
  attempts: number;
}

/**
 * Claims up to $1 due messages for $2 ms: the lease. In one statement, so the claim commits
 * before anything is sent. `SKIP LOCKED`: replicas claiming at the same moment take different
 * rows, none waits for another. Pushing `next_attempt_at` past the lease keeps the row from being
 * due again while it is sent; if this process dies mid-send, the row is due once the lease is
 * over and another process sends it (at least once; the Message-ID stays the same).
 */
const claimDue: SqlStatement = {
  name: 'mail_outbox_claim_due',
  text: `
    UPDATE mail_outbox AS m
       SET attempts = m.attempts + 1,
           next_attempt_at = now() + $2::int * interval '1 millisecond'
      FROM (SELECT id FROM mail_outbox
             WHERE status = 'pending' AND next_attempt_at <= now()
             ORDER BY next_attempt_at
             LIMIT $1::int
             FOR UPDATE SKIP LOCKED) AS due
     WHERE m.id = due.id
 RETURNING m.id, m.message_id, m.kind, m.to_address, m.subject, m.text_body, m.html_body,
           m.attempts`,
};

/** Sent is sent, whoever holds the lease now: never turned back into pending or failed. */
const markSent: SqlStatement = {
  name: 'mail_outbox_mark_sent',
  text: `UPDATE mail_outbox SET status = 'sent', sent_at = now()
          WHERE id = $1::uuid AND status = 'pending'`,
};

/**
 * The attempt count guards both: a process whose lease ran out (another has claimed the row
 * since, so `attempts` moved on) leaves the row to the newer attempt.
 */
const scheduleRetry: SqlStatement = {
  name: 'mail_outbox_schedule_retry',
  text: `UPDATE mail_outbox
            SET next_attempt_at = now() + $3::int * interval '1 millisecond', last_error = $4::text
          WHERE id = $1::uuid AND status = 'pending' AND attempts = $2::int`,
};

const markFailed: SqlStatement = {
  name: 'mail_outbox_mark_failed',
  text: `UPDATE mail_outbox SET status = 'failed', last_error = $3::text
          WHERE id = $1::uuid AND status = 'pending' AND attempts = $2::int`,
};

const countUnsent: SqlStatement = {
  name: 'mail_outbox_count_unsent',
  text: `SELECT status, count(*)::int AS count FROM mail_outbox
          WHERE status IN ('pending', 'failed') GROUP BY status`,
};

/**
 * Blanks the bodies of up to $2 messages sent or given up on more than $1 ms ago: the links in
 * them carry live account tokens (the table keeps only their hashes), so a copy of the body must
 * not outlive its delivery by long. Kind, address, subject, Message-ID and outcome stay.
 */
const blankDeliveredBodies: SqlStatement = {
  name: 'mail_outbox_blank_bodies',
  text: `
    UPDATE mail_outbox AS m SET text_body = '', html_body = NULL
      FROM (SELECT id FROM mail_outbox
             WHERE status IN ('sent', 'failed') AND text_body <> ''
               AND COALESCE(sent_at, next_attempt_at) < now() - $1::int * interval '1 millisecond'
             LIMIT $2::int
             FOR UPDATE SKIP LOCKED) AS old
     WHERE m.id = old.id
 RETURNING m.id`,
};

/** Deletes up to $2 messages sent or given up on, created more than $1 days ago. */
const deleteOld: SqlStatement = {
  name: 'mail_outbox_delete_old',
  text: `
    DELETE FROM mail_outbox WHERE id IN (
      SELECT id FROM mail_outbox
       WHERE status IN ('sent', 'failed') AND created_at < now() - $1::int * interval '1 day'
       LIMIT $2::int
       FOR UPDATE SKIP LOCKED)
 RETURNING id`,
};

/** `last_error` keeps the start of an error message: enough to act on, bounded in size. */
const MAX_ERROR_LENGTH = 1_000;

export interface MailOutboxRepository {
  /** Claims up to `limit` due messages, each leased for `leaseMs`. */
  claimDue(limit: number, leaseMs: number): Promise<OutboxMessage[]>;
  markSent(message: Pick<OutboxMessage, 'id'>): Promise<void>;
  /** Makes the message due again in `delayMs`, unless another attempt has claimed it since. */
  scheduleRetry(
    message: Pick<OutboxMessage, 'id' | 'attempts'>,
    delayMs: number,
    error: string,
  ): Promise<void>;
  /** Gives up on the message, unless another attempt has claimed it since. */
  markFailed(message: Pick<OutboxMessage, 'id' | 'attempts'>, error: string): Promise<void>;
  /** Messages waiting to be sent, and those given up on. */
  countUnsent(): Promise<{ pending: number; failed: number }>;
  /**
   * Blanks the bodies of messages delivered (or given up on) more than `bodyRetentionMs` ago and
   * deletes those older than `retentionDays` (0: kept), in batches; safe on many replicas.
   * @returns how many rows were changed.
   */
  prune(bodyRetentionMs: number, retentionDays: number, batchSize?: number): Promise<number>;
}

export function createMailOutboxRepository(db: Pick<Database, 'sql'>): MailOutboxRepository {
  const truncate = (error: string) => error.slice(0, MAX_ERROR_LENGTH);
  return {
    async claimDue(limit, leaseMs) {
      const rows = await db.sql.query<ClaimedRow>(claimDue, [limit, Math.ceil(leaseMs)]);
      return rows.map((row) => ({
        id: row.id,
        messageId: row.message_id,
        kind: row.kind,
        to: row.to_address,
        subject: row.subject,
        text: row.text_body,
        html: row.html_body,
        attempts: row.attempts,
      }));
    },
    async markSent({ id }) {
      await db.sql.query(markSent, [id]);
    },
    async scheduleRetry({ id, attempts }, delayMs, error) {
      await db.sql.query(scheduleRetry, [id, attempts, Math.ceil(delayMs), truncate(error)]);
    },
    async markFailed({ id, attempts }, error) {
      await db.sql.query(markFailed, [id, attempts, truncate(error)]);
    },
    async countUnsent() {
      const rows = await db.sql.query<{ status: string; count: number }>(countUnsent, []);
      const count = (status: string) => rows.find((row) => row.status === status)?.count ?? 0;
      return { pending: count('pending'), failed: count('failed') };
    },
    async prune(bodyRetentionMs, retentionDays, batchSize = 500) {
      let total = 0;
      for (;;) {
        const blanked = (await db.sql.query(blankDeliveredBodies, [bodyRetentionMs, batchSize]))
          .length;
        const deleted =
          retentionDays > 0
            ? (await db.sql.query(deleteOld, [retentionDays, batchSize])).length
            : 0;
        total += blanked + deleted;
        if (blanked < batchSize && deleted < batchSize) return total;
      }
    },
  };
}
