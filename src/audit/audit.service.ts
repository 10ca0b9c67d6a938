import type { AuditLog, RequestMeta } from './audit-log';
import type { AuditFilter, AuditPage, AuditPageRequest, AuditRepository } from './audit.repository';

export interface AuditServiceDeps {
  repository: AuditRepository;
  audit: AuditLog;
}

/** Who reads the log: the caller of an authenticated request. */
export interface AuditReader {
  userId: string;
  sessionId: string;
}

/** Reading the audit log: a user's own activity, and the administrators' query. */
export function createAuditService({ repository, audit }: AuditServiceDeps) {
  return {
    /** The caller's own security events, newest first. */
    activity(reader: AuditReader, page: AuditPageRequest): Promise<AuditPage> {
      return repository.listForSubject(reader.userId, page);
    },

    /**
     * Every event matching `filter`, newest first. Reading the log is itself an admin action: an
     * `audit.queried` event (with the filter) is written first, so no read goes unrecorded.
     */
    async query(
      reader: AuditReader,
      filter: AuditFilter,
      page: AuditPageRequest,
      request: RequestMeta,
    ): Promise<AuditPage> {
      await audit.record({
        type: 'audit.queried',
        actorUserId: reader.userId,
        sessionId: reader.sessionId,
        request,
        data: {
          ...(filter.userId ? { userId: filter.userId } : {}),
          ...(filter.types ? { types: [...filter.types] } : {}),
          ...(filter.since ? { since: filter.since.toISOString() } : {}),
          ...(filter.until ? { until: filter.until.toISOString() } : {}),
          ...(page.after ? { after: page.after.id } : {}),
          limit: page.limit,
        },
      });
      return repository.query(filter, page);
    },
  };
}

export type AuditService = ReturnType<typeof createAuditService>;
