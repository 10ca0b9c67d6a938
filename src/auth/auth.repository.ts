import { INTERACTIVE_TRANSACTION, type Database } from '../db/database';
import { primaryReads, type LagTolerantReads } from '../db/read-replica';
import { DomainError } from '../errors/domain-error';
import { Prisma } from '../generated/prisma/client';
import { AuthErrorCode } from './auth.errors';
import * as authSql from './auth.sql';
import {
  auditEventParams,
  type RotationOutcome,
  type RotationRow,
  type SessionCheckRow,
  type SqlAuditEvent,
  type UserRow,
} from './auth.sql';

/** A user as the API shows it: never the password hash. */
export interface PublicUser {
  id: string;
  email: string;
  name: string | null;
  /** A key of the role map (src/auth/permissions.ts). */
  role: string;
  /** When the address was confirmed; null until then. */
  emailVerifiedAt: Date | null;
  createdAt: Date;
}

/** An interactive transaction's client: what work done inside auth's own transactions gets. */
export type AuthTx = Prisma.TransactionClient;

/** Work another feature does inside one of auth's transactions (the account lifecycle's). */
export type InTransaction = (tx: AuthTx, user: PublicUser) => Promise<void>;

export interface UserWithHash extends PublicUser {
  passwordHash: string;
  /** Set while an admin has the account disabled: no sign-in, refresh or access token. */
  disabledAt: Date | null;
}

/** A new session (login) with its first refresh token. */
export interface NewSession {
  id: string;
  userId: string;
  userAgent: string | null;
  ip: string | null;
  expiresAt: Date;
  token: { id: string; tokenHash: string; expiresAt: Date };
}

/** What a rotation attempt did, and the user when it rotated (see auth.sql.ts). */
export type RotationResult =
  { outcome: 'rotated'; user: PublicUser } | { outcome: Exclude<RotationOutcome, 'rotated'> };

/** An access token's session, checked together with the user it belongs to. */
export type SessionCheck =
  | { state: 'active'; user: PublicUser; /** The session's absolute end. */ expiresAt: Date }
  | { state: 'disabled' | 'revoked' | 'expired'; user: PublicUser }
  | { state: 'account-gone' };

export interface ActiveSession {
  id: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  userAgent: string | null;
  ip: string | null;
}

const publicUser = {
  id: true,
  email: true,
  name: true,
  role: true,
  emailVerifiedAt: true,
  createdAt: true,
} as const;

/**
 * The sessions of a user that can still refresh: not revoked, not past their lifetime, holding a
 * live token; most recently used first. One definition for the user's list and the admin's.
 */
export const activeSessionsQuery = (userId: string, now: Date) =>
  ({
    where: {
      userId,
      revokedAt: null,
      expiresAt: { gt: now },
      tokens: { some: { replacedById: null, revokedAt: null, expiresAt: { gt: now } } },
    },
    select: {
      id: true,
      createdAt: true,
      lastUsedAt: true,
      expiresAt: true,
      userAgent: true,
      ip: true,
    },
    orderBy: { lastUsedAt: 'desc' },
  }) satisfies Prisma.SessionFindManyArgs;

const toPublicUser = (row: UserRow): PublicUser => ({
  id: row.id,
  email: row.email,
  name: row.name,
  role: row.role,
  emailVerifiedAt: row.email_verified_at,
  createdAt: row.created_at,
});

/**
 * The only module that touches the database for auth. Every state change that must be exclusive
 * is a single statement, so it stays correct with many replicas and no locks in memory. The hot
 * ones (rotation, the session check, revocations) are hand-written SQL on the driver
 * (auth.sql.ts), which also fixes their lock order; Prisma does the rest.
 */
export function createAuthRepository(
  { prisma, sql }: Pick<Database, 'prisma' | 'sql'>,
  /** Reads that tolerate replication lag (the session list); the primary without a replica. */
  lagTolerant: LagTolerantReads = primaryReads(prisma),
) {
  return {
    /**
     * Creates the user and its first session (none when `session` is null) in one transaction,
     * with what `inTransaction` adds (the verification mail and the audit event).
     * @throws {DomainError} `EMAIL_TAKEN`: relies on the unique index, so two concurrent
     *   registrations of one email cannot both succeed.
     */
    async createUserWithSession(
      user: { id: string; email: string; name: string | null; passwordHash: string },
      session: Omit<NewSession, 'userId'> | null,
      inTransaction?: InTransaction,
    ): Promise<PublicUser> {
      const data = {
        ...user,
        ...(session
          ? {
              sessions: {
                create: {
                  id: session.id,
                  userAgent: session.userAgent,
                  ip: session.ip,
                  expiresAt: session.expiresAt,
                  tokens: { create: session.token },
                },
              },
            }
          : {}),
      };
      try {
        if (!inTransaction) return await prisma.user.create({ data, select: publicUser });
        return await prisma.$transaction(async (tx) => {
          const created = await tx.user.create({ data, select: publicUser });
          await inTransaction(tx, created);
          return created;
        }, INTERACTIVE_TRANSACTION);
      } catch (error) {
        if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
          throw new DomainError(
            AuthErrorCode.EMAIL_TAKEN,
            'An account with this email already exists',
          );
        }
        throw error;
      }
    },

    findUserByEmail(email: string): Promise<UserWithHash | null> {
      return prisma.user.findUnique({
        where: { email },
        select: { ...publicUser, passwordHash: true, disabledAt: true },
      });
    },

    findUserById(id: string): Promise<UserWithHash | null> {
      return prisma.user.findUnique({
        where: { id },
        select: { ...publicUser, passwordHash: true, disabledAt: true },
      });
    },

    async updatePasswordHash(userId: string, passwordHash: string): Promise<void> {
      await prisma.user.update({ where: { id: userId }, data: { passwordHash } });
    },

    /**
     * Sets a new password hash and revokes every session of the user but `keepSessionId`, in one
     * transaction with what `inTransaction` adds (voided reset links, the notification, the audit
     * event). Locks the user row first (the UPDATE), then the sessions in id order and their
     * tokens (auth.sql.ts), the account lifecycle's lock order.
     */
    async changePassword(
      userId: string,
      passwordHash: string,
      now: Date,
      keepSessionId: string,
      inTransaction?: InTransaction,
    ): Promise<void> {
      await prisma.$transaction(async (tx) => {
        const user = await tx.user.update({
          where: { id: userId },
          data: { passwordHash },
          select: publicUser,
        });
        if (inTransaction) await inTransaction(tx, user);
        await tx.$queryRawUnsafe(
          authSql.revokeUserSessions.text,
          // No event from the statement: the password change's is written by `inTransaction`.
          ...authSql.revokeUserSessionsValues(userId, now, keepSessionId),
        );
      }, INTERACTIVE_TRANSACTION);
    },

    /** A sign-in's session and first token, and its audit event when given, in one statement. */
    async createSession(session: NewSession, event?: SqlAuditEvent): Promise<void> {
      await sql.query(authSql.createSession, [
        session.id,
        session.userId,
        session.userAgent,
        session.ip,
        session.expiresAt,
        session.token.id,
        session.token.tokenHash,
        session.token.expiresAt,
        ...auditEventParams(event),
      ]);
    },

    /**
     * Spends refresh token `current` and stores its successor, in one statement that locks the
     * session row, then the token row (auth.sql.ts). Of any number of concurrent presentations of
     * one token exactly one rotates; a presentation of a spent token revokes the session and its
     * live token in the same statement, so the revocation commits or the request fails: it is
     * never skipped. `reuseEvent`, when given, is recorded by the same statement if (and only
     * if) the outcome is `reused`.
     */
    async rotateRefreshToken(
      current: { id: string; tokenHash: string; sessionId: string; userId: string },
      next: { id: string; tokenHash: string; expiresAt: Date },
      now: Date,
      reuseEvent?: SqlAuditEvent,
    ): Promise<RotationResult> {
      const [row] = await sql.query<RotationRow>(authSql.rotateRefreshToken, [
        current.id,
        current.tokenHash,
        current.sessionId,
        current.userId,
        now,
        next.id,
        next.tokenHash,
        next.expiresAt,
        ...auditEventParams(reuseEvent),
      ]);
      if (!row) throw new Error('the rotation statement returned no row');
      if (row.outcome !== 'rotated') return { outcome: row.outcome };
      return { outcome: 'rotated', user: toPublicUser(row as RotationRow & UserRow) };
    },

    /**
     * The session of an access token, and its user, in one read: what every authenticated
     * request checks (through the session check cache), so a revoked session's access tokens
     * stop working.
     */
    async checkSession(userId: string, sessionId: string, now: Date): Promise<SessionCheck> {
      const [row] = await sql.query<SessionCheckRow>(authSql.checkSession, [
        userId,
        sessionId,
        now,
      ]);
      if (!row) return { state: 'account-gone' };
      const user = toPublicUser(row);
      if (row.session !== 'active') return { state: row.session, user };
      // Active: the session row exists, and its expiry is NOT NULL.
      return { state: 'active', user, expiresAt: row.session_expires_at as Date };
    },

    /**
     * Revokes one session and its live token, recording `event` in the same statement if it was
     * live.
     * @returns whether it was active (and the user's).
     */
    async revokeSession(
      sessionId: string,
      userId: string,
      now: Date,
      event?: SqlAuditEvent,
    ): Promise<boolean> {
      const rows = await sql.query(
        authSql.revokeSession,
        authSql.revokeSessionValues(sessionId, userId, now, event),
      );
      return rows.length === 1;
    },

    /**
     * Revokes every session of a user, except `keepSessionId` when given, recording `event` (one
     * for all) in the same statement. @returns how many sessions were revoked.
     */
    async revokeUserSessions(
      userId: string,
      now: Date,
      keepSessionId?: string,
      event?: SqlAuditEvent,
    ): Promise<number> {
      const rows = await sql.query(
        authSql.revokeUserSessions,
        authSql.revokeUserSessionsValues(userId, now, keepSessionId ?? null, event),
      );
      return rows.length;
    },

    /** Sessions that can still refresh (see {@link activeSessionsQuery}), lag tolerated. */
    listActiveSessions(userId: string, now: Date): Promise<ActiveSession[]> {
      return lagTolerant.read((client) =>
        client.session.findMany(activeSessionsQuery(userId, now)),
      );
    },

    /**
     * Deletes, in batches, refresh tokens whose JWT has expired (they can no longer be presented,
     * so they are no longer needed for reuse detection) and sessions that are past their lifetime
     * or were revoked longer ago than a refresh token lives. Safe on many replicas at once: rows
     * another purger has locked are skipped, not waited for.
     *
     * @returns how many rows were deleted.
     */
    async purgeExpired(now: Date, revokedBefore: Date, batchSize = 1_000): Promise<number> {
      let total = 0;
      for (;;) {
        const tokens = await prisma.$executeRaw`
          DELETE FROM refresh_tokens WHERE id IN (
            SELECT id FROM refresh_tokens WHERE expires_at <= ${now} LIMIT ${batchSize} FOR UPDATE SKIP LOCKED)`;
        const sessions = await prisma.$executeRaw`
          DELETE FROM sessions WHERE id IN (
            SELECT id FROM sessions WHERE expires_at <= ${now} OR revoked_at <= ${revokedBefore}
            LIMIT ${batchSize} FOR UPDATE SKIP LOCKED)`;
        total += tokens + sessions;
        if (tokens < batchSize && sessions < batchSize) return total;
      }
    },
  };
}

export type AuthRepository = ReturnType<typeof createAuthRepository>;
