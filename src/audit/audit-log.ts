import { randomUUID } from 'node:crypto';
import type { Prisma, PrismaClient } from '../generated/prisma/client';

/**
 * The audit log's writer: security events, appended to `audit_events` (prisma/schema.prisma).
 * An event that records a change is written through the transaction client of that change, so
 * the two commit together or not at all; an event with no change (a failed sign-in) is written
 * on its own.
 */

/** Every event type. A project adds its own here; the admin API filters on these names. */
export const AUDIT_EVENT_TYPES = [
  'user.registered',
  'signin.succeeded',
  'signin.failed',
  'refresh.reuse_detected',
  'session.logout',
  'session.logout_all',
  'session.revoked',
  'password.changed',
  'password.reset_requested',
  'password.reset_completed',
  'email.verified',
  'email.change_requested',
  'email.changed',
  'account.deleted',
  'role.changed',
  'account.disabled',
  'account.enabled',
  'audit.queried',
  'admin.user_deleted',
  'admin.sessions_revoked',
  'admin.users_listed',
  'admin.user_viewed',
] as const;

export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** Where a request came from: recorded on the sessions and audit events it creates. */
export interface RequestMeta {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export interface AuditEventInput {
  type: AuditEventType;
  /** Who did it: the user themself, an admin, or null (an anonymous request). */
  actorUserId?: string | null;
  /** Whose account it concerns. */
  subjectUserId?: string | null;
  sessionId?: string | null;
  /** A stable code (a failed sign-in's cause), never a secret. */
  reason?: string | null;
  data?: Prisma.InputJsonValue;
  request?: RequestMeta | null;
}

/** What can write an event: the Prisma client, or the client of an interactive transaction. */
export type AuditWriter = Pick<PrismaClient | Prisma.TransactionClient, 'auditEvent'>;

export interface AuditLog {
  readonly enabled: boolean;
  /**
   * Appends the events through `writer` (a transaction's client, to commit with its change) and
   * counts them in the metrics.
   */
  record(events: AuditEventInput | readonly AuditEventInput[], writer?: AuditWriter): Promise<void>;
  /**
   * Counts an event a statement of its own wrote (the hot SQL of auth.sql.ts inserts its event in
   * the statement that makes the change): only the metrics, nothing is written.
   */
  counted(type: AuditEventType, count?: number): void;
}

export const auditRow = (event: AuditEventInput): Prisma.AuditEventCreateManyInput => ({
  id: newAuditEventId(),
  type: event.type,
  actorUserId: event.actorUserId ?? null,
  subjectUserId: event.subjectUserId ?? null,
  sessionId: event.sessionId ?? null,
  reason: event.reason ?? null,
  ...(event.data === undefined ? {} : { data: event.data }),
  ip: event.request?.ip ?? null,
  userAgent: event.request?.userAgent ?? null,
  requestId: event.request?.requestId ?? null,
});

/** Counts events as they are recorded: the metrics' `app_security_events_total{type}`. */
export interface AuditEventCounter {
  inc(type: AuditEventType, count?: number): void;
}

export function createAuditLog({
  prisma,
  enabled,
  counter,
}: {
  prisma: AuditWriter;
  /** `AUDIT_ENABLED`: off, nothing is written (events are still counted). */
  enabled: boolean;
  counter?: AuditEventCounter;
}): AuditLog {
  const count = (type: AuditEventType, n = 1) => counter?.inc(type, n);
  return {
    enabled,
    async record(events, writer = prisma) {
      const list: readonly AuditEventInput[] = Array.isArray(events) ? events : [events];
      if (list.length === 0) return;
      if (enabled) await writer.auditEvent.createMany({ data: list.map(auditRow) });
      for (const event of list) count(event.type);
    },
    counted: count,
  };
}

/**
 * The id of a new event: a UUIDv7 (time-ordered, like Prisma's `uuid(7)`), monotonic within
 * this process. The log is ordered by `created_at` (the transaction's start, in ms) and then by
 * `id`, so events one process writes in the same millisecond still read in the order written.
 * Made here rather than by Prisma so the hot SQL statements (auth.sql.ts) use the same ids.
 */
export function newAuditEventId(): string {
  let ms = Date.now();
  if (ms > lastIdMs) {
    lastIdMs = ms;
    // Start low in the 12-bit counter, at random, leaving room to count up within the ms.
    idCounter = Math.floor(Math.random() * 0x100);
  } else {
    ms = lastIdMs;
    idCounter += 1;
    if (idCounter > 0xfff) {
      // 4096 ids in one millisecond: borrow the next one, as RFC 9562 (6.2) allows.
      lastIdMs += 1;
      ms = lastIdMs;
      idCounter = 0;
    }
  }
  const hex = ms.toString(16).padStart(12, '0');
  // The random tail of a v4 UUID already carries the RFC 9562 variant bits: `Vxxx-xxxxxxxxxxxx`.
  const tail = randomUUID().slice(19);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${idCounter.toString(16).padStart(3, '0')}-${tail}`;
}

let lastIdMs = 0;
let idCounter = 0;
