import { INTERACTIVE_TRANSACTION, type Database } from '../db/database';
import { DomainError } from '../errors/domain-error';
import { Prisma } from '../generated/prisma/client';
import * as authSql from '../auth/auth.sql';
import { AuthErrorCode } from '../auth/auth.errors';
import type { RequestMeta } from '../audit/audit-log';
import type { TokenPurpose } from './account-token';

/**
 * The account lifecycle's database access. Each flow runs in one interactive transaction, which
 * the service opens with {@link AccountRepository.transaction}; the mail and the audit event of
 * the change are written through the same transaction client (a transactional outbox).
 *
 * Lock order, the same in every flow (and compatible with auth/auth.sql.ts): **the user row
 * first**, then its account tokens, then its sessions (in id order), then their refresh tokens.
 * Processing a reset request claims its row (which no other flow touches) before the user row.
 * Two flows of one account therefore queue on its user row and never deadlock; the hot auth
 * statements never lock a user row.
 */

/** An interactive transaction's client: what the flows write through. */
export type AccountTx = Prisma.TransactionClient;

/** The account as the flows need it, locked for the rest of the transaction. */
export interface LockedUser {
  id: string;
  email: string;
  name: string | null;
  passwordHash: string;
  emailVerifiedAt: Date | null;
}

/** What spending a token yields. */
export interface SpentToken {
  userId: string;
  /** The address an email change confirms; null for other purposes. */
  newEmail: string | null;
}

/** A password reset request as `forgot` recorded it, claimed by whoever processes it. */
export interface ResetRequest {
  id: string;
  email: string;
  request: RequestMeta;
  createdAt: Date;
}

/** The account a reset request names, locked for the rest of the transaction. */
export interface ResetRequestUser {
  id: string;
  email: string;
  disabledAt: Date | null;
}

/** Why a token cannot be spent: unknown (or used, or voided), or only expired. */
export type TokenFault = 'invalid' | 'expired';

const isUniqueViolation = (error: unknown) =>
  error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002';

/** Voids every live token of `purposes` of a user (a newer one, a password change). */
async function voidTokens(
  tx: AccountTx,
  userId: string,
  purposes: readonly TokenPurpose[],
  now: Date,
): Promise<void> {
  await tx.accountToken.updateMany({
    where: { userId, purpose: { in: [...purposes] }, usedAt: null },
    data: { usedAt: now },
  });
}

export function createAccountRepository({ prisma }: Pick<Database, 'prisma'>) {
  return {
    /** Runs `work` in one interactive transaction (READ COMMITTED): all of it commits, or none. */
    transaction<T>(work: (tx: AccountTx) => Promise<T>): Promise<T> {
      return prisma.$transaction(work, INTERACTIVE_TRANSACTION);
    },

    findUserById(id: string) {
      return prisma.user.findUnique({
        where: { id },
        select: { id: true, email: true, passwordHash: true, emailVerifiedAt: true },
      });
    },

    async emailTaken(email: string): Promise<boolean> {
      return (await prisma.user.count({ where: { email } })) > 0;
    },

    /**
     * Locks the user row for the rest of the transaction (`FOR NO KEY UPDATE`: a concurrent
     * login may still insert a session for it; `forDelete` takes the full lock).
     * @returns the user, or null when it no longer exists.
     */
    async lockUser(tx: AccountTx, userId: string, forDelete = false): Promise<LockedUser | null> {
      const rows = forDelete
        ? await tx.$queryRaw<LockedUserRow[]>`
            SELECT id, email, name, password_hash, email_verified_at FROM users
            WHERE id = ${userId}::uuid FOR UPDATE`
        : await tx.$queryRaw<LockedUserRow[]>`
            SELECT id, email, name, password_hash, email_verified_at FROM users
            WHERE id = ${userId}::uuid FOR NO KEY UPDATE`;
      const row = rows[0];
      if (!row) return null;
      return {
        id: row.id,
        email: row.email,
        name: row.name,
        passwordHash: row.password_hash,
        emailVerifiedAt: row.email_verified_at,
      };
    },

    /**
     * The user a live token (unused, unexpired) of `purpose` belongs to, without spending it:
     * the flows lock that user before they spend the token (the lock order).
     */
    async findLiveToken(purpose: TokenPurpose, tokenHash: string, now: Date) {
      return prisma.accountToken.findFirst({
        where: { tokenHash, purpose, usedAt: null, expiresAt: { gt: now } },
        select: { userId: true },
      });
    },

    /** Why a token that could not be spent was refused: `expired` only when that is all. */
    async tokenFault(purpose: TokenPurpose, tokenHash: string, now: Date): Promise<TokenFault> {
      const token = await prisma.accountToken.findFirst({
        where: { tokenHash, purpose },
        select: { usedAt: true, expiresAt: true },
      });
      return token && token.usedAt === null && token.expiresAt <= now ? 'expired' : 'invalid';
    },

    /**
     * Spends a token in one statement: of any number of concurrent presentations exactly one
     * finds it unused and unexpired. @returns its user and new address, or null.
     */
    async spendToken(
      tx: AccountTx,
      purpose: TokenPurpose,
      tokenHash: string,
      userId: string,
      now: Date,
    ): Promise<SpentToken | null> {
      const rows = await tx.$queryRaw<Array<{ user_id: string; new_email: string | null }>>`
        UPDATE account_tokens SET used_at = ${now}
        WHERE token_hash = ${tokenHash} AND purpose = ${purpose} AND user_id = ${userId}::uuid
          AND used_at IS NULL AND expires_at > ${now}
        RETURNING user_id, new_email`;
      const row = rows[0];
      return row ? { userId: row.user_id, newEmail: row.new_email } : null;
    },

    voidTokens,

    /** Stores a new token after voiding the user's older ones of the same purpose. */
    async issueToken(
      tx: AccountTx,
      token: {
        userId: string;
        purpose: TokenPurpose;
        tokenHash: string;
        expiresAt: Date;
        newEmail?: string;
      },
      now: Date,
    ): Promise<void> {
      await voidTokens(tx, token.userId, [token.purpose], now);
      await tx.accountToken.create({
        data: {
          userId: token.userId,
          purpose: token.purpose,
          tokenHash: token.tokenHash,
          expiresAt: token.expiresAt,
          newEmail: token.newEmail ?? null,
          createdAt: now,
        },
      });
    },

    async setPasswordHash(
      tx: AccountTx,
      userId: string,
      passwordHash: string,
      emailVerifiedAt?: Date,
    ) {
      await tx.user.update({
        where: { id: userId },
        data: { passwordHash, ...(emailVerifiedAt ? { emailVerifiedAt } : {}) },
      });
    },

    async markEmailVerified(tx: AccountTx, userId: string, now: Date): Promise<void> {
      await tx.user.updateMany({
        where: { id: userId, emailVerifiedAt: null },
        data: { emailVerifiedAt: now },
      });
    },

    /**
     * Sets a confirmed new address. @throws {DomainError} `EMAIL_TAKEN` when another account
     * holds it (the unique index decides, so two confirmations of one address cannot both win).
     */
    async changeEmail(tx: AccountTx, userId: string, email: string, now: Date): Promise<void> {
      try {
        await tx.user.update({ where: { id: userId }, data: { email, emailVerifiedAt: now } });
      } catch (error) {
        if (isUniqueViolation(error)) {
          throw new DomainError(
            AuthErrorCode.EMAIL_TAKEN,
            'An account with this email already exists',
          );
        }
        throw error;
      }
    },

    /**
     * Revokes every live session of a user (and their refresh tokens) with auth's own statement,
     * so its lock order holds: the sessions in id order, then their tokens.
     */
    async revokeAllSessions(tx: AccountTx, userId: string, now: Date): Promise<void> {
      // No event from the statement: the flow records its own in `tx`.
      await tx.$queryRawUnsafe(
        authSql.revokeUserSessions.text,
        ...authSql.revokeUserSessionsValues(userId, now, null),
      );
    },

    /**
     * Records a password reset request: one INSERT, the same for every address (nothing is
     * looked up), so what `forgot` does before its reply costs the same whether or not an
     * account uses the address. @returns the request's id.
     */
    async recordResetRequest(email: string, request: RequestMeta, now: Date): Promise<string> {
      const row = await prisma.passwordResetRequest.create({
        data: {
          email,
          ip: request.ip,
          userAgent: request.userAgent,
          requestId: request.requestId,
          createdAt: now,
        },
        select: { id: true },
      });
      return row.id;
    },

    /**
     * Claims one reset request for this transaction by deleting it: `id`'s, or with no id the
     * oldest created before `createdBefore` that no other transaction holds (SKIP LOCKED, so
     * sweepers on several replicas take different ones). A concurrent claim of the same row
     * waits for this transaction and then finds nothing: each request is processed once, and
     * if the transaction rolls back, the request is back for the next sweep.
     * @returns the request, or null when there is none (left) to claim.
     */
    async claimResetRequest(
      tx: AccountTx,
      which: { id: string } | { createdBefore: Date },
    ): Promise<ResetRequest | null> {
      const rows =
        'id' in which
          ? await tx.$queryRaw<ResetRequestRow[]>`
              DELETE FROM password_reset_requests WHERE id = ${which.id}::uuid
              RETURNING id, email, ip, user_agent, request_id, created_at`
          : await tx.$queryRaw<ResetRequestRow[]>`
              DELETE FROM password_reset_requests WHERE id = (
                SELECT id FROM password_reset_requests WHERE created_at < ${which.createdBefore}
                ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
              RETURNING id, email, ip, user_agent, request_id, created_at`;
      const row = rows[0];
      if (!row) return null;
      return {
        id: row.id,
        email: row.email,
        request: { ip: row.ip, userAgent: row.user_agent, requestId: row.request_id },
        createdAt: row.created_at,
      };
    },

    /**
     * Deletes, in batches, reset requests created before `createdBefore` (older than a reset
     * link lives: a link mailed now would answer a request its sender has given up on).
     * Rows another transaction holds are skipped. @returns how many were deleted.
     */
    async dropResetRequests(createdBefore: Date, batchSize = 1_000): Promise<number> {
      let total = 0;
      for (;;) {
        const deleted = await prisma.$executeRaw`
          DELETE FROM password_reset_requests WHERE id IN (
            SELECT id FROM password_reset_requests WHERE created_at < ${createdBefore}
            LIMIT ${batchSize} FOR UPDATE SKIP LOCKED)`;
        total += deleted;
        if (deleted < batchSize) return total;
      }
    },

    /** Locks the account using `email` (the user row first: the lock order), if there is one. */
    async lockUserByEmail(tx: AccountTx, email: string): Promise<ResetRequestUser | null> {
      const rows = await tx.$queryRaw<
        Array<{ id: string; email: string; disabled_at: Date | null }>
      >`SELECT id, email, disabled_at FROM users WHERE email = ${email} FOR NO KEY UPDATE`;
      const row = rows[0];
      return row ? { id: row.id, email: row.email, disabledAt: row.disabled_at } : null;
    },

    /** Deletes the user; its sessions, refresh tokens and account tokens go with it (cascade). */
    async deleteUser(tx: AccountTx, userId: string): Promise<void> {
      await tx.user.delete({ where: { id: userId } });
    },
  };
}

interface LockedUserRow {
  id: string;
  email: string;
  name: string | null;
  password_hash: string;
  email_verified_at: Date | null;
}

interface ResetRequestRow {
  id: string;
  email: string;
  ip: string | null;
  user_agent: string | null;
  request_id: string | null;
  created_at: Date;
}

export type AccountRepository = ReturnType<typeof createAccountRepository>;
