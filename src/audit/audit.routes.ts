import { defineRoute, type Feature } from '../http/route';
import { requestMeta } from '../http/request-context';
import type { AuditEventRecord, AuditPage } from './audit.repository';
import {
  activityQuery,
  activityResponse,
  auditQuery,
  auditResponse,
  encodeCursor,
} from './audit.schemas';
import type { AuditService } from './audit.service';

/**
 * The audit log's HTTP adapter: two small route tables, each mounted under the base path it
 * belongs to. `GET /api/auth/me/activity` sits with the account's other routes; `GET
 * /api/admin/audit` shares `/admin` with the admin feature's table (features may share a base
 * path: each mounts its own router there, and a request falls through to the one that has it).
 */

export interface AuditRoutesDeps {
  audit: AuditService;
}

/** /api/auth/me/activity: the caller's own security events. */
export function activityFeature({ audit }: AuditRoutesDeps): Feature {
  return {
    name: 'activity',
    description: "The caller's own security events: where and when they signed in",
    basePath: '/auth',
    headers: { 'Cache-Control': 'no-store' },
    routes: [
      defineRoute({
        method: 'get',
        path: '/me/activity',
        summary: 'Your recent security events: sign-ins, failed sign-ins, revocations',
        description:
          'Events about your account, newest first, by pages (`cursor`, `limit`). The address and user agent of an event an administrator caused are not shown.',
        auth: 'bearer',
        query: activityQuery,
        responses: { 200: { description: 'A page of events', body: activityResponse } },
        errors: [],
      }).handle(async ({ auth: caller, query }) => {
        const page = await audit.activity(caller, { after: query.cursor, limit: query.limit });
        return {
          status: 200,
          body: {
            events: page.events.map((event) => toActivityJson(event, caller)),
            nextCursor: nextCursorOf(page),
          },
        };
      }),
    ],
  };
}

/** /api/admin/audit: every event, filtered, for holders of `audit:read`. */
export function auditAdminFeature({ audit }: AuditRoutesDeps): Feature {
  return {
    name: 'audit',
    description: 'The audit log of security events (administrators)',
    basePath: '/admin',
    headers: { 'Cache-Control': 'no-store' },
    routes: [
      defineRoute({
        method: 'get',
        path: '/audit',
        summary: 'Query the audit log',
        description:
          'Newest first, by pages (`cursor`, `limit`); filters combine (all must match). Each query is itself recorded as an `audit.queried` event.',
        auth: 'bearer',
        permission: 'audit:read',
        query: auditQuery,
        responses: { 200: { description: 'A page of events', body: auditResponse } },
        errors: [],
      }).handle(async ({ auth: caller, query, req }) => {
        const page = await audit.query(
          caller,
          { userId: query.userId, types: query.type, since: query.since, until: query.until },
          { after: query.cursor, limit: query.limit },
          requestMeta(req),
        );
        return {
          status: 200,
          body: { events: page.events.map(toAuditJson), nextCursor: nextCursorOf(page) },
        };
      }),
    ],
  };
}

const nextCursorOf = (page: AuditPage) => (page.next ? encodeCursor(page.next) : null);

function toActivityJson(event: AuditEventRecord, caller: { userId: string; sessionId: string }) {
  const actor =
    event.actorUserId === null
      ? 'anonymous'
      : event.actorUserId === caller.userId
        ? 'self'
        : 'administrator';
  // Another account's address and browser are theirs, not the subject's, to see.
  const shown = actor !== 'administrator';
  return {
    id: event.id,
    type: event.type,
    at: event.createdAt.toISOString(),
    actor,
    ip: shown ? event.ip : null,
    userAgent: shown ? event.userAgent : null,
    sessionId: event.sessionId,
    currentSession: event.sessionId !== null && event.sessionId === caller.sessionId,
    reason: event.reason,
  } as const;
}

function toAuditJson(event: AuditEventRecord) {
  return {
    ...event,
    createdAt: event.createdAt.toISOString(),
    data: isObject(event.data) ? event.data : null,
  };
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
