import type { AuditEventInput, AuditLog } from '../audit/audit-log';
import { activeSessionsQuery, type ActiveSession } from '../auth/auth.repository';
import * as authSql from '../auth/auth.sql';
import type { Database } from '../db/database';
import type { Prisma } from '../generated/prisma/client';

/** An account as the admin API reads it. */
export interface AdminUser {
  id: string;
  email: string;
  name: string | null;
  role: string;
  emailVerifiedAt: Date | null;
  disabledAt: Date | null;
  createdAt: Date;
}

/** A session as the admin sees it: the same as the user's own list shows. */
export type AdminSession = ActiveSession;

export interface UserFilter {
  /** Lower-cased: emails are stored lower-cased. */
  emailPrefix?: string | undefined;
  role?: string | undefined;
  disabled?: boolean | undefined;
  verified?: boolean | undefined;
  /** Only emails after this one (the page's cursor). */
  afterEmail?: string | undefined;
}

const adminUser = {
  id: true,
  email: true,
  name: true,
  role: true,
  emailVerifiedAt: true,
  disabledAt: true,
  createdAt: true,
} as const;

// Generous bounds: a change waits for the admin rows another admin change holds (see
// lockManagers), and the machine may be busy; Prisma's defaults are 2 s and 5 s.
const TRANSACTION = { maxWait: 10_000, timeout: 20_000 } as const;

/**
 * Prisma's `startsWith` sends `LIKE prefix%` without escaping: `%` and `_` in the prefix would be
 * wildcards (`a_` matching `axb@...`). Escaped with LIKE's default escape character.
 */
const literalLike = (prefix: string) => prefix.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * What one admin change may do inside its transaction. Every change takes the same locks in
 * the same order: the manager rows (users, in id order), then the target's sessions (in id
 * order, by the auth statements), then their refresh tokens: no two changes, and no change and
 * a rotation or logout, can deadlock.
 */
export interface AdminTransaction {
  /**
   * Locks every enabled account whose role is one of `roles` (in id order) and returns their
   * ids. Two changes that could each remove the last admin serialise here; the second one then
   * sees the first one's result (READ COMMITTED re-checks a locked row's new version).
   */
  lockManagers(roles: readonly string[]): Promise<string[]>;
  findUser(id: string): Promise<AdminUser | null>;
  /** Creates an account (the CLI and the seed). @throws Prisma's P2002 when the email is taken. */
  createUser(user: {
    email: string;
    passwordHash: string;
    role: string;
    emailVerifiedAt: Date | null;
  }): Promise<AdminUser>;
  updateUser(id: string, change: { role?: string; disabledAt?: Date | null }): Promise<AdminUser>;
  /** Revokes every live session of the user and their tokens. @returns the session ids. */
  revokeAllSessions(userId: string, now: Date): Promise<string[]>;
  /** Revokes one live session of the user. @returns whether there was one. */
  revokeSession(userId: string, sessionId: string, now: Date): Promise<boolean>;
  /** Deletes the user; its sessions and tokens go with it (ON DELETE CASCADE). */
  deleteUser(id: string): Promise<void>;
  /** Appends audit events that commit with the change. */
  audit(events: AuditEventInput | readonly AuditEventInput[]): Promise<void>;
}

/** The admin feature's database access: the only module of the feature that uses Prisma. */
export function createAdminRepository({ prisma }: Pick<Database, 'prisma'>, audit: AuditLog) {
  const transactionOps = (tx: Prisma.TransactionClient): AdminTransaction => ({
    async lockManagers(roles) {
      // NO KEY UPDATE: blocks other admin changes of these rows, but not a sign-in that inserts
      // a session referencing one (a foreign-key check takes KEY SHARE).
      const rows = await tx.$queryRawUnsafe<Array<{ id: string }>>(
        `SELECT id::text AS id FROM users WHERE role = ANY($1::text[]) AND disabled_at IS NULL
         ORDER BY id FOR NO KEY UPDATE`,
        [...roles],
      );
      return rows.map((row) => row.id);
    },
    findUser: (id) => tx.user.findUnique({ where: { id }, select: adminUser }),
    createUser: (user) => tx.user.create({ data: user, select: adminUser }),
    updateUser: (id, change) => tx.user.update({ where: { id }, data: change, select: adminUser }),
    async revokeAllSessions(userId, now) {
      // The auth feature's statement, so the lock order is the one rotation and logout use.
      const rows = await tx.$queryRawUnsafe<Array<{ id: string }>>(
        authSql.revokeUserSessions.text,
        // No event from the statement: the admin action records its own in `tx`.
        ...authSql.revokeUserSessionsValues(userId, now, null),
      );
      return rows.map((row) => row.id);
    },
    async revokeSession(userId, sessionId, now) {
      const rows = await tx.$queryRawUnsafe<unknown[]>(
        authSql.revokeSession.text,
        ...authSql.revokeSessionValues(sessionId, userId, now),
      );
      return rows.length === 1;
    },
    async deleteUser(id) {
      await tx.user.delete({ where: { id } });
    },
    audit: (events) => audit.record(events, tx),
  });

  return {
    /** Appends audit events on their own: an admin read, which changes nothing. */
    record: (events: AuditEventInput | readonly AuditEventInput[]) => audit.record(events),

    /** Runs `work` in one transaction: its changes and audit events commit together or not at all. */
    transaction<T>(work: (tx: AdminTransaction) => Promise<T>): Promise<T> {
      return prisma.$transaction((tx) => work(transactionOps(tx)), TRANSACTION);
    },

    /** One page of users ordered by email (unique and indexed: a stable cursor). */
    listUsers(filter: UserFilter, limit: number): Promise<AdminUser[]> {
      const where: Prisma.UserWhereInput = {};
      const email: Prisma.StringFilter = {};
      if (filter.afterEmail !== undefined) email.gt = filter.afterEmail;
      if (filter.emailPrefix !== undefined) {
        email.startsWith = literalLike(filter.emailPrefix);
      }
      if (Object.keys(email).length > 0) where.email = email;
      if (filter.role !== undefined) where.role = filter.role;
      if (filter.disabled !== undefined) {
        where.disabledAt = filter.disabled ? { not: null } : null;
      }
      if (filter.verified !== undefined) {
        where.emailVerifiedAt = filter.verified ? { not: null } : null;
      }
      return prisma.user.findMany({
        where,
        orderBy: { email: 'asc' },
        take: limit,
        select: adminUser,
      });
    },

    findUser: (id: string): Promise<AdminUser | null> =>
      prisma.user.findUnique({ where: { id }, select: adminUser }),

    findUserByEmail: (email: string): Promise<AdminUser | null> =>
      prisma.user.findUnique({ where: { email }, select: adminUser }),

    /** Sessions that can still refresh, read from the primary (an admin checks what they did). */
    listActiveSessions: (userId: string, now: Date): Promise<AdminSession[]> =>
      prisma.session.findMany(activeSessionsQuery(userId, now)),
  };
}

export type AdminRepository = ReturnType<typeof createAdminRepository>;
