import type { PrismaClient } from '../generated/prisma/client';
import { Prisma } from '../generated/prisma/client';
import { primaryReads, type LagTolerantReads } from '../db/read-replica';
import { DomainError } from '../errors/domain-error';
import { AuthErrorCode } from './auth.errors';

/** A user as the API shows it: never the password hash. */
export interface PublicUser {
  id: string;
  email: string;
  name: string | null;
  createdAt: Date;
}

export interface UserWithHash extends PublicUser {
  passwordHash: string;
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

/** The state of a refresh token row, for explaining a failed rotation. */
export interface RefreshTokenState {
  tokenHash: string;
  expiresAt: Date;
  revokedAt: Date | null;
  replacedById: string | null;
  session: { id: string; expiresAt: Date; revokedAt: Date | null; user: PublicUser };
}

export interface ActiveSession {
  id: string;
  createdAt: Date;
  lastUsedAt: Date;
  expiresAt: Date;
  userAgent: string | null;
  ip: string | null;
}

const publicUser = { id: true, email: true, name: true, createdAt: true } as const;

/** Thrown inside the rotation transaction to roll it back. */
class RotationRejected extends Error {}

/**
 * The only module that touches Prisma for auth. Every state change that must be exclusive is a
 * single conditional statement, so it stays correct with many replicas and no locks in memory.
 */
export function createAuthRepository(
  prisma: PrismaClient,
  /** Reads that tolerate replication lag (the session list); the primary without a replica. */
  lagTolerant: LagTolerantReads = primaryReads(prisma),
) {
  return {
    /**
     * Creates the user and its first session in one write.
     * @throws {DomainError} `EMAIL_TAKEN`: relies on the unique index, so two concurrent
     *   registrations of one email cannot both succeed.
     */
    async createUserWithSession(
      user: { id: string; email: string; name: string | null; passwordHash: string },
      session: Omit<NewSession, 'userId'>,
    ): Promise<PublicUser> {
      try {
        return await prisma.user.create({
          data: {
            ...user,
            sessions: {
              create: {
                id: session.id,
                userAgent: session.userAgent,
                ip: session.ip,
                expiresAt: session.expiresAt,
                tokens: { create: session.token },
              },
            },
          },
          select: publicUser,
        });
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
        select: { ...publicUser, passwordHash: true },
      });
    },

    findUserById(id: string): Promise<UserWithHash | null> {
      return prisma.user.findUnique({
        where: { id },
        select: { ...publicUser, passwordHash: true },
      });
    },

    async updatePasswordHash(userId: string, passwordHash: string): Promise<void> {
      await prisma.user.update({ where: { id: userId }, data: { passwordHash } });
    },

    async createSession(session: NewSession): Promise<void> {
      await prisma.session.create({
        data: {
          id: session.id,
          userId: session.userId,
          userAgent: session.userAgent,
          ip: session.ip,
          expiresAt: session.expiresAt,
          tokens: { create: session.token },
        },
      });
    },

    /**
     * Spends refresh token `current` and stores its successor, atomically.
     *
     * The spend is one conditional UPDATE on the unspent row: however many requests present
     * the same token at once, the database lets exactly one change it; the rest see
     * `count === 0`. The successor is written in the same transaction, so a failure cannot
     * leave a session with no usable token.
     *
     * @returns true when this call rotated the token; false when it was not spendable (the
     *   caller asks {@link findRefreshToken} why).
     */
    async rotateRefreshToken(
      current: { id: string; tokenHash: string; sessionId: string },
      next: { id: string; tokenHash: string; expiresAt: Date },
      now: Date,
    ): Promise<boolean> {
      try {
        await prisma.$transaction(async (tx) => {
          const { count } = await tx.refreshToken.updateMany({
            where: {
              id: current.id,
              tokenHash: current.tokenHash,
              replacedById: null,
              revokedAt: null,
              expiresAt: { gt: now },
            },
            data: { replacedById: next.id },
          });
          if (count !== 1) throw new RotationRejected();
          const session = await tx.session.update({
            where: { id: current.sessionId },
            data: { lastUsedAt: now },
          });
          if (session.revokedAt || session.expiresAt <= now) throw new RotationRejected();
          await tx.refreshToken.create({ data: { ...next, sessionId: current.sessionId } });
        });
        return true;
      } catch (error) {
        if (error instanceof RotationRejected) return false;
        throw error;
      }
    },

    findRefreshToken(id: string): Promise<RefreshTokenState | null> {
      return prisma.refreshToken.findUnique({
        where: { id },
        select: {
          tokenHash: true,
          expiresAt: true,
          revokedAt: true,
          replacedById: true,
          session: {
            select: { id: true, expiresAt: true, revokedAt: true, user: { select: publicUser } },
          },
        },
      });
    },

    /** Revokes one session and its tokens. @returns whether it was active (and the user's). */
    async revokeSession(sessionId: string, userId: string, now: Date): Promise<boolean> {
      const [sessions] = await prisma.$transaction([
        prisma.session.updateMany({
          where: { id: sessionId, userId, revokedAt: null },
          data: { revokedAt: now },
        }),
        prisma.refreshToken.updateMany({
          where: { sessionId, session: { userId }, revokedAt: null },
          data: { revokedAt: now },
        }),
      ]);
      return sessions.count === 1;
    },

    /** Revokes every session of a user, except `keepSessionId` when given. */
    async revokeUserSessions(userId: string, now: Date, keepSessionId?: string): Promise<void> {
      const sessionFilter = {
        userId,
        revokedAt: null,
        ...(keepSessionId ? { id: { not: keepSessionId } } : {}),
      };
      await prisma.$transaction([
        prisma.refreshToken.updateMany({
          where: { revokedAt: null, session: sessionFilter },
          data: { revokedAt: now },
        }),
        prisma.session.updateMany({ where: sessionFilter, data: { revokedAt: now } }),
      ]);
    },

    /** Sessions that can still refresh: not revoked, not past their lifetime, holding a live token. */
    listActiveSessions(userId: string, now: Date): Promise<ActiveSession[]> {
      return lagTolerant.read((client) =>
        client.session.findMany({
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
        }),
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
