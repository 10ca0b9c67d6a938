import type { Database } from '../db/database';
import { primaryReads, type LagTolerantReads } from '../db/read-replica';
import type { Prisma } from '../generated/prisma/client';
import type { AuditEventType } from './audit-log';

/** An event as the log holds it. */
export interface AuditEventRecord {
  id: string;
  createdAt: Date;
  type: string;
  actorUserId: string | null;
  subjectUserId: string | null;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
  reason: string | null;
  data: Prisma.JsonValue;
}

/**
 * Where a page starts: after the event with this time and id, newest first. The log is ordered by
 * `(created_at, id)`, a total order (ids are unique), so pages never repeat or skip an event that
 * was there when the first page was read, whatever is appended meanwhile.
 */
export interface AuditCursor {
  createdAt: Date;
  id: string;
}

export interface AuditPageRequest {
  /** Events strictly older than this one; none: from the newest. */
  after?: AuditCursor | undefined;
  limit: number;
}

export interface AuditFilter {
  /** Events about this user (subject) or done by them (actor). */
  userId?: string | undefined;
  /** Any of these types. */
  types?: readonly AuditEventType[] | undefined;
  /** At or after this time. */
  since?: Date | undefined;
  /** Before this time. */
  until?: Date | undefined;
}

export interface AuditPage {
  events: AuditEventRecord[];
  /** Where the next page starts; null on the last page. */
  next: AuditCursor | null;
}

/**
 * The audit log's reads and its purge; events are written by `AuditLog` (audit-log.ts) and by
 * the auth feature's hot statements. Reads tolerate replication lag (a list of past events), so
 * they go to the read replica when there is one.
 */
export function createAuditRepository(
  { prisma }: Pick<Database, 'prisma'>,
  lagTolerant: LagTolerantReads = primaryReads(prisma),
) {
  async function page(where: Prisma.AuditEventWhereInput, request: AuditPageRequest) {
    const { after, limit } = request;
    const rows = await lagTolerant.read((client) =>
      client.auditEvent.findMany({
        where: after
          ? {
              AND: [
                where,
                {
                  OR: [
                    { createdAt: { lt: after.createdAt } },
                    { createdAt: after.createdAt, id: { lt: after.id } },
                  ],
                },
              ],
            }
          : where,
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        // One more than asked: whether there is a next page, without a count.
        take: limit + 1,
      }),
    );
    const events = rows.slice(0, limit);
    const last = events.at(-1);
    return {
      events,
      next: rows.length > limit && last ? { createdAt: last.createdAt, id: last.id } : null,
    } satisfies AuditPage;
  }

  return {
    /** The events of one account (it is their subject), newest first. */
    listForSubject(userId: string, request: AuditPageRequest): Promise<AuditPage> {
      return page({ subjectUserId: userId }, request);
    },

    /** Every event matching `filter`, newest first. */
    query(filter: AuditFilter, request: AuditPageRequest): Promise<AuditPage> {
      const where: Prisma.AuditEventWhereInput[] = [];
      if (filter.userId) {
        where.push({ OR: [{ subjectUserId: filter.userId }, { actorUserId: filter.userId }] });
      }
      if (filter.types?.length) where.push({ type: { in: [...filter.types] } });
      if (filter.since || filter.until) {
        where.push({
          createdAt: {
            ...(filter.since ? { gte: filter.since } : {}),
            ...(filter.until ? { lt: filter.until } : {}),
          },
        });
      }
      return page({ AND: where }, request);
    },

    /**
     * Deletes, in batches, events created before `before`. Safe on many replicas at once: rows
     * another purger has locked are skipped, not waited for; a batch is its own short statement,
     * so a large backlog never holds one long transaction.
     *
     * @returns how many events were deleted.
     */
    async purgeOlderThan(before: Date, batchSize = 1_000): Promise<number> {
      let total = 0;
      for (;;) {
        const deleted = await prisma.$executeRaw`
          DELETE FROM audit_events WHERE id IN (
            SELECT id FROM audit_events WHERE created_at < ${before}
            LIMIT ${batchSize} FOR UPDATE SKIP LOCKED)`;
        total += deleted;
        if (deleted < batchSize) return total;
      }
    },
  };
}

export type AuditRepository = ReturnType<typeof createAuditRepository>;
