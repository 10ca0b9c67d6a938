import { randomUUID } from 'node:crypto';
import {
  newAuditEventId,
  type AuditEventType,
  type AuditLog,
  type RequestMeta,
} from '../audit/audit-log';
import { DomainError } from '../errors/domain-error';
import type { Logger } from '../logger';
import { AuthErrorCode } from './auth.errors';
import { AccountErrorCode } from '../account/account.errors';
import type { ActiveSession, AuthRepository, AuthTx, PublicUser } from './auth.repository';
import type { PasswordHasher } from './password-hasher';
import type { PasswordPolicy } from './password-policy';
import type { SqlAuditEvent } from './auth.sql';
import { createSessionCheckCache, type SessionCheckCache } from './session-check-cache';
import type { AccessClaims, TokenService } from './token-service';
import { hashToken } from './token-service';

/**
 * What the account lifecycle adds to auth's own flows (account/account.service.ts provides it):
 * work done inside their transactions, and whether an unconfirmed address may sign in.
 */
export interface AuthLifecycleHooks {
  /** `AUTH_ALLOW_UNVERIFIED_SIGN_IN`. */
  readonly allowUnverifiedSignIn: boolean;
  /** Inside the registration's transaction: the verification mail and the audit event. */
  registered(tx: AuthTx, user: PublicUser, request: RequestMeta): Promise<void>;
  /** Inside the password change's transaction: reset links voided, notification, audit event. */
  passwordChanged(
    tx: AuthTx,
    user: PublicUser,
    context: { sessionId: string; request: RequestMeta },
  ): Promise<void>;
  /** After either transaction has committed: what it queued can be sent now. */
  committed?(): void;
}

/** A registration that must confirm its address before it may sign in: no tokens. */
export interface PendingVerification {
  user: PublicUser;
  verificationRequired: true;
}

/** What register, login and refresh return. */
export interface AuthResult {
  user: PublicUser;
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  /** When the refresh token expires (for the cookie's lifetime). */
  refreshTokenExpiresAt: Date;
}

export interface AuthServiceDeps {
  repository: AuthRepository;
  tokens: TokenService;
  passwords: PasswordHasher;
  /** Checked wherever a password is set (not where one is verified). */
  passwordPolicy: PasswordPolicy;
  logger: Logger;
  /** Where sign-ins, failed sign-ins, reuses, logouts and revocations are recorded. */
  audit: AuditLog;
  /** Absolute lifetime of a session, in seconds. */
  sessionMaxAgeSeconds: number;
  /** The account lifecycle's part; without it, registration mails nothing and anyone signs in. */
  lifecycle?: AuthLifecycleHooks;
  /** Recent session checks (AUTH_SESSION_CACHE_MS); without it, every check reads the database. */
  sessionChecks?: SessionCheckCache;
  now?: () => Date;
}

/**
 * Why a sign-in failed, as its `signin.failed` event records it (`reason`). The reply says only
 * INVALID_CREDENTIALS either way; the log tells an administrator which.
 */
export const SignInFailure = {
  /** No account has this email. The email itself is not recorded: people type passwords there. */
  UNKNOWN_EMAIL: 'unknown_email',
  WRONG_PASSWORD: 'wrong_password',
  /** The password was right, but the address is unconfirmed and must be (production default). */
  EMAIL_NOT_VERIFIED: 'email_not_verified',
  /** The password was right, but an administrator disabled the account. */
  ACCOUNT_DISABLED: 'account_disabled',
} as const;

const invalidCredentials = () =>
  new DomainError(AuthErrorCode.INVALID_CREDENTIALS, 'Email or password is incorrect');
const revoked = () =>
  new DomainError(AuthErrorCode.REFRESH_TOKEN_REVOKED, 'The refresh token has been revoked');
const accountGone = () =>
  new DomainError(AuthErrorCode.ACCOUNT_NOT_FOUND, 'The account no longer exists');
const accountDisabled = () =>
  new DomainError(AuthErrorCode.ACCOUNT_DISABLED, 'This account has been disabled by an admin');

/**
 * The token flow, on plain data: no request or response objects here.
 *
 * - Access tokens are stateless (see TokenService); everything else is decided by the database.
 * - Each login is a session with an absolute lifetime; its refresh tokens rotate on every use.
 * - A spent refresh token presented again means it was copied: the whole session is revoked,
 *   which also kills whichever copy the thief or the owner still holds.
 */
export function createAuthService({
  repository,
  tokens,
  passwords,
  passwordPolicy,
  logger,
  audit,
  sessionMaxAgeSeconds,
  lifecycle,
  sessionChecks = createSessionCheckCache({ ttlMs: 0 }),
  now = () => new Date(),
}: AuthServiceDeps) {
  const allowUnverifiedSignIn = lifecycle?.allowUnverifiedSignIn ?? true;
  /** An event for a hot statement to write with its change; none when auditing is off. */
  const sqlEvent = (
    type: AuditEventType,
    actorUserId: string | null,
    request: RequestMeta,
  ): SqlAuditEvent | undefined =>
    audit.enabled ? { id: newAuditEventId(), type, actorUserId, request } : undefined;

  /** Signs an access token and a refresh token for a session; `row` is what the database keeps. */
  function issueTokens(claims: AccessClaims, sessionExpiresAt: Date, at: Date) {
    const refresh = tokens.issueRefreshToken(claims, sessionExpiresAt, at);
    return {
      tokens: {
        accessToken: tokens.signAccessToken(claims),
        refreshToken: refresh.token,
        expiresIn: tokens.accessTtlSeconds,
        refreshTokenExpiresAt: refresh.expiresAt,
      },
      row: { id: refresh.tokenId, tokenHash: refresh.tokenHash, expiresAt: refresh.expiresAt },
    };
  }

  /** A new session: ids and lifetime, decided before anything is written. */
  function newSession() {
    const at = now();
    return {
      at,
      sessionId: randomUUID(),
      expiresAt: new Date(at.getTime() + sessionMaxAgeSeconds * 1000),
    };
  }

  return {
    /**
     * Creates the account; with the lifecycle, its verification mail and audit event commit
     * with it. Starts a session unless unconfirmed addresses may not sign in: then the account
     * waits for its link, and the reply carries no tokens.
     */
    async register(
      input: { email: string; password: string; name: string | null },
      client: RequestMeta,
    ): Promise<AuthResult | PendingVerification> {
      await passwordPolicy.assertAcceptable(input.password);
      const passwordHash = await passwords.hash(input.password);
      const userId = randomUUID();
      const registered =
        lifecycle && ((tx: AuthTx, user: PublicUser) => lifecycle.registered(tx, user, client));
      const account = { id: userId, email: input.email, name: input.name, passwordHash };
      if (!allowUnverifiedSignIn) {
        const user = await repository.createUserWithSession(account, null, registered);
        lifecycle?.committed?.();
        return { user, verificationRequired: true };
      }
      const { at, sessionId, expiresAt } = newSession();
      const { tokens: issued, row } = issueTokens({ userId, sessionId }, expiresAt, at);
      // One write: the user, its first session and that session's first refresh token.
      const user = await repository.createUserWithSession(
        account,
        { id: sessionId, userAgent: client.userAgent, ip: client.ip, expiresAt, token: row },
        registered,
      );
      lifecycle?.committed?.();
      return { user, ...issued };
    },

    async login(
      input: { email: string; password: string },
      client: RequestMeta,
    ): Promise<AuthResult> {
      const user = await repository.findUserByEmail(input.email);
      // A failure changes nothing, so its event is written alone. It costs one insert per
      // attempt, behind the signIn limits every attempt passes first.
      if (!user) {
        await passwords.verifyDummy(input.password);
        await audit.record({
          type: 'signin.failed',
          reason: SignInFailure.UNKNOWN_EMAIL,
          request: client,
        });
        throw invalidCredentials();
      }
      if (!(await passwords.verify(user.passwordHash, input.password))) {
        await audit.record({
          type: 'signin.failed',
          subjectUserId: user.id,
          reason: SignInFailure.WRONG_PASSWORD,
          request: client,
        });
        throw invalidCredentials();
      }
      // Only after the password check: someone without the password learns nothing about the
      // account's state, while its owner is told why they cannot sign in.
      if (user.disabledAt) {
        await audit.record({
          type: 'signin.failed',
          subjectUserId: user.id,
          reason: SignInFailure.ACCOUNT_DISABLED,
          request: client,
        });
        throw accountDisabled();
      }
      if (!allowUnverifiedSignIn && user.emailVerifiedAt === null) {
        await audit.record({
          type: 'signin.failed',
          subjectUserId: user.id,
          reason: SignInFailure.EMAIL_NOT_VERIFIED,
          request: client,
        });
        throw new DomainError(
          AccountErrorCode.EMAIL_NOT_VERIFIED,
          'Confirm your email address first: follow the link mailed to you (or reset your password)',
        );
      }
      if (passwords.needsRehash(user.passwordHash)) {
        // Parameters were raised since this hash was made: upgrade it while we hold the password.
        await repository.updatePasswordHash(user.id, await passwords.hash(input.password));
      }
      const { passwordHash: _, disabledAt: __, ...publicUser } = user;
      const { at, sessionId, expiresAt } = newSession();
      const { tokens: issued, row } = issueTokens({ userId: user.id, sessionId }, expiresAt, at);
      // The session, its token and the `signin.succeeded` event: one statement.
      await repository.createSession(
        {
          id: sessionId,
          userId: user.id,
          userAgent: client.userAgent,
          ip: client.ip,
          expiresAt,
          token: row,
        },
        sqlEvent('signin.succeeded', user.id, client),
      );
      audit.counted('signin.succeeded');
      return { user: publicUser, ...issued };
    },

    /**
     * Rotates a refresh token: one statement decides and does everything (auth.sql.ts), so a
     * rotation is one round trip, and a reuse's revocation (and its `refresh.reuse_detected`
     * event) commits with the answer or fails the request. A rotation records no event.
     */
    async refresh(refreshToken: string, client: RequestMeta): Promise<AuthResult> {
      const claims = tokens.verifyRefreshToken(refreshToken);
      const at = now();
      // Tokens signed before the `sexp` claim: the session's end is unknown here, so the
      // successor gets the refresh TTL and the statement caps its row at the session's end.
      const sessionExpiresAt =
        claims.sessionExpiresAt ?? new Date(at.getTime() + tokens.refreshTtlSeconds * 1000);
      const { tokens: issued, row } = issueTokens(claims, sessionExpiresAt, at);
      const result = await repository.rotateRefreshToken(
        {
          id: claims.tokenId,
          tokenHash: hashToken(refreshToken),
          sessionId: claims.sessionId,
          userId: claims.userId,
        },
        row,
        at,
        // Whoever presented the spent copy is unknown (the owner or a thief): no actor.
        sqlEvent('refresh.reuse_detected', null, client),
      );
      switch (result.outcome) {
        case 'rotated':
          return { user: result.user, ...issued };
        case 'reused':
          sessionChecks.forgetUser(claims.userId);
          audit.counted('refresh.reuse_detected');
          logger.warn(
            { userId: claims.userId, sessionId: claims.sessionId },
            'refresh token reuse detected: session revoked',
          );
          throw new DomainError(
            AuthErrorCode.REFRESH_TOKEN_REUSED,
            'This refresh token was already used; the session has been revoked for safety. Log in again.',
          );
        case 'disabled':
          throw accountDisabled();
        case 'session_expired':
          throw new DomainError(
            AuthErrorCode.SESSION_EXPIRED,
            'The session has reached its maximum lifetime. Log in again.',
          );
        case 'expired':
          throw new DomainError(AuthErrorCode.TOKEN_EXPIRED, 'The token has expired');
        case 'revoked':
        case 'unknown':
          // Unknown: signed by us but not stored (its session was deleted with its user, or
          // purged), or its hash differs from the row's.
          throw revoked();
      }
    },

    /**
     * Ends the session of a refresh token. Any token of the session will do, spent or expired,
     * as long as its signature, issuer and audience are ours: ending a session must always work
     * (a client holding only an old token can still log out), and revoking is all it can do.
     * Already revoked is fine: logout is idempotent.
     */
    async logout(refreshToken: string, client: RequestMeta): Promise<void> {
      const claims = tokens.verifyRefreshToken(refreshToken, { ignoreExpiration: true });
      // Recorded only when it ended a live session: a repeated logout records nothing.
      const ended = await repository.revokeSession(
        claims.sessionId,
        claims.userId,
        now(),
        sqlEvent('session.logout', claims.userId, client),
      );
      sessionChecks.forgetUser(claims.userId);
      if (ended) audit.counted('session.logout');
    },

    async logoutAll(auth: AccessClaims, client: RequestMeta): Promise<void> {
      await repository.revokeUserSessions(
        auth.userId,
        now(),
        undefined,
        sqlEvent('session.logout_all', auth.userId, client),
      );
      sessionChecks.forgetUser(auth.userId);
      audit.counted('session.logout_all');
    },

    /**
     * The state of an access token's session, with its user: what the bearer authenticator
     * checks on every request (one statement), so a revoked session's access tokens are refused
     * on every replica and worker within AUTH_SESSION_CACHE_MS (see session-check-cache.ts), and at
     * once by the process that revoked it. A disabled account's tokens and a role change take
     * effect the same way.
     * @throws {DomainError} `ACCOUNT_NOT_FOUND`, `ACCOUNT_DISABLED`, `SESSION_REVOKED` or
     *   `SESSION_EXPIRED`.
     */
    async authenticate(auth: AccessClaims): Promise<PublicUser> {
      const check = await sessionChecks.check(auth.userId, auth.sessionId, () =>
        repository.checkSession(auth.userId, auth.sessionId, now()),
      );
      if (check.state === 'account-gone') throw accountGone();
      if (check.state === 'disabled') throw accountDisabled();
      if (check.state === 'revoked') {
        throw new DomainError(
          AuthErrorCode.SESSION_REVOKED,
          'The session of this token has ended (logged out or revoked). Log in again.',
        );
      }
      if (check.state === 'expired') {
        throw new DomainError(
          AuthErrorCode.SESSION_EXPIRED,
          'The session has reached its maximum lifetime. Log in again.',
        );
      }
      return check.user;
    },

    /**
     * Changes the password and revokes every other session (the caller's stays), in one
     * transaction with the lifecycle's part: pending reset links voided, a notification, the
     * audit event.
     */
    async changePassword(
      auth: AccessClaims,
      input: { currentPassword: string; newPassword: string },
      client: RequestMeta,
    ): Promise<void> {
      await passwordPolicy.assertAcceptable(input.newPassword);
      const user = await repository.findUserById(auth.userId);
      if (!user) throw accountGone();
      if (!(await passwords.verify(user.passwordHash, input.currentPassword))) {
        throw new DomainError(
          AuthErrorCode.INVALID_CURRENT_PASSWORD,
          'The current password is incorrect',
        );
      }
      const passwordHash = await passwords.hash(input.newPassword);
      await repository.changePassword(
        user.id,
        passwordHash,
        now(),
        auth.sessionId,
        lifecycle &&
          ((tx, changed) =>
            lifecycle.passwordChanged(tx, changed, { sessionId: auth.sessionId, request: client })),
      );
      sessionChecks.forgetUser(user.id);
      lifecycle?.committed?.();
    },

    async listSessions(auth: AccessClaims): Promise<Array<ActiveSession & { current: boolean }>> {
      const sessions = await repository.listActiveSessions(auth.userId, now());
      return sessions.map((session) => ({ ...session, current: session.id === auth.sessionId }));
    },

    async revokeSession(auth: AccessClaims, sessionId: string, client: RequestMeta): Promise<void> {
      const revoked = await repository.revokeSession(
        sessionId,
        auth.userId,
        now(),
        sqlEvent('session.revoked', auth.userId, client),
      );
      sessionChecks.forgetUser(auth.userId);
      if (!revoked) {
        throw new DomainError(AuthErrorCode.SESSION_NOT_FOUND, 'No active session with this id');
      }
      audit.counted('session.revoked');
    },
  };
}

export type AuthService = ReturnType<typeof createAuthService>;
