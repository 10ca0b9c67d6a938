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
  'admin.user_deleted',
  'admin.sessions_revoked',
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
  /** Appends the events through `writer` (a transaction's client to commit with its change). */
  record(events: AuditEventInput | readonly AuditEventInput[], writer?: AuditWriter): Promise<void>;
}

export const auditRow = (event: AuditEventInput): Prisma.AuditEventCreateManyInput => ({
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

export function createAuditLog({
  prisma,
  enabled,
}: {
  prisma: AuditWriter;
  /** `AUDIT_ENABLED`: off, nothing is written. */
  enabled: boolean;
}): AuditLog {
  return {
    enabled,
    async record(events, writer = prisma) {
      const list: readonly AuditEventInput[] = Array.isArray(events) ? events : [events];
      if (!enabled || list.length === 0) return;
      await writer.auditEvent.createMany({ data: list.map(auditRow) });
    },
  };
}
