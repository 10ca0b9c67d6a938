import { z } from 'zod';
import { AUDIT_EVENT_TYPES, type AuditEventType } from './audit-log';
import type { AuditCursor } from './audit.repository';

/**
 * The request and response shapes of the audit log's routes (audit.routes.ts): the caller's own
 * activity and the administrators' query. Replies are strict objects, so a column added to the
 * log does not reach a reply without its schema.
 */

/** A page position, opaque to clients: base64url of `<created_at ISO>_<id>`. */
export const encodeCursor = ({ createdAt, id }: AuditCursor): string =>
  Buffer.from(`${createdAt.toISOString()}_${id}`).toString('base64url');

const cursorSchema = z
  .string()
  .max(200)
  .transform((value, ctx): AuditCursor => {
    const [time = '', id = ''] = Buffer.from(value, 'base64url').toString('utf8').split('_');
    const createdAt = new Date(time);
    if (
      !z.iso.datetime().safeParse(time).success ||
      Number.isNaN(createdAt.getTime()) ||
      !z.uuid().safeParse(id).success
    ) {
      ctx.addIssue({ code: 'custom', message: 'must be a nextCursor from a previous page' });
      return z.NEVER;
    }
    return { createdAt, id };
  })
  .describe('`nextCursor` of the previous page; leave out for the newest events');

const limitSchema = (max: number, byDefault: number) =>
  z.coerce
    .number({ message: 'must be a number' })
    .int({ message: 'must be a whole number' })
    .min(1)
    .max(max)
    .default(byDefault)
    .describe(`Events per page (1-${max}, default ${byDefault})`);

const typeNames = new Set<string>(AUDIT_EVENT_TYPES);

/** `type=a,b` or `type=a&type=b`: any of these event types. */
const typesSchema = z
  .union([z.string(), z.array(z.string())])
  .transform((value, ctx): AuditEventType[] => {
    const names = (Array.isArray(value) ? value : [value])
      .flatMap((part) => part.split(','))
      .map((part) => part.trim())
      .filter(Boolean);
    const unknown = names.filter((name) => !typeNames.has(name));
    if (unknown.length > 0 || names.length === 0) {
      ctx.addIssue({
        code: 'custom',
        message: `must be event types among ${AUDIT_EVENT_TYPES.join(', ')}${unknown.length ? ` (unknown: ${unknown.slice(0, 5).join(', ')})` : ''}`,
      });
      return z.NEVER;
    }
    return names as AuditEventType[];
  })
  .describe(`Event types, comma-separated: ${AUDIT_EVENT_TYPES.map((t) => `\`${t}\``).join(', ')}`);

const instant = (what: string) =>
  z.iso
    .datetime({ offset: true, message: 'must be an ISO 8601 date-time (2026-12-02T14:00:00Z)' })
    .transform((value) => new Date(value))
    .describe(what);

export const activityQuery = z.strictObject({
  cursor: cursorSchema.optional(),
  limit: limitSchema(100, 20),
});

export const auditQuery = z
  .strictObject({
    cursor: cursorSchema.optional(),
    limit: limitSchema(200, 50),
    userId: z
      .uuid({ message: 'must be a user id (UUID)' })
      .optional()
      .describe('Events about this user or done by them (subject or actor)'),
    type: typesSchema.optional(),
    since: instant('Events at or after this time').optional(),
    until: instant('Events before this time').optional(),
  })
  .refine((query) => !query.since || !query.until || query.since < query.until, {
    message: 'must be after `since`',
    path: ['until'],
  });

const nextCursor = z
  .string()
  .nullable()
  .describe('Pass as `cursor` for the next (older) page; null on the last page');

export const activityResponse = z.strictObject({
  events: z.array(
    z.strictObject({
      id: z.uuid(),
      type: z.string().describe('The event type: `signin.succeeded`, `signin.failed`, ...'),
      at: z.iso.datetime(),
      actor: z
        .enum(['self', 'anonymous', 'administrator'])
        .describe(
          'Who did it: you, an unauthenticated request about your account (a failed sign-in, a presented copy of a spent refresh token), or another account (an administrator)',
        ),
      ip: z
        .string()
        .nullable()
        .describe("The request's address; null when an administrator did it"),
      userAgent: z.string().nullable().describe('Null when an administrator did it'),
      sessionId: z.uuid().nullable().describe('The session it concerns (see /sessions)'),
      currentSession: z.boolean().describe('Whether it concerns the session making this request'),
      reason: z
        .string()
        .nullable()
        .describe('Why, for a failure: `wrong_password`, `unknown_email`, ...'),
    }),
  ),
  nextCursor,
});

export const auditResponse = z.strictObject({
  events: z.array(
    z.strictObject({
      id: z.uuid(),
      createdAt: z.iso.datetime(),
      type: z.string(),
      actorUserId: z.uuid().nullable().describe('Who did it; null for an anonymous request'),
      subjectUserId: z.uuid().nullable().describe('Whose account it concerns'),
      sessionId: z.uuid().nullable(),
      ip: z.string().nullable(),
      userAgent: z.string().nullable(),
      requestId: z.string().nullable().describe('The request id of the logs (`X-Request-Id`)'),
      reason: z.string().nullable().describe('A stable code, never a secret'),
      data: z.record(z.string(), z.unknown()).nullable().describe('Details of the event'),
    }),
  ),
  nextCursor,
});
