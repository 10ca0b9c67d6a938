import type { AuditLog, RequestMeta } from '../audit/audit-log';
import type { AuthLifecycleHooks } from '../auth/auth.service';
import { AuthErrorCode } from '../auth/auth.errors';
import type { PasswordHasher } from '../auth/password-hasher';
import type { PasswordPolicy } from '../auth/password-policy';
import type { AccessClaims } from '../auth/token-service';
import { CommonErrorCode, DomainError } from '../errors/domain-error';
import type { Logger } from '../logger';
import { enqueueMail, type OutgoingMail } from '../mail/mail-outbox';
import { AccountErrorCode } from './account.errors';
import type { AccountMails } from './account.mails';
import type { AccountRepository, AccountTx, LockedUser, SpentToken } from './account.repository';
import { hashAccountToken, newAccountToken, TokenPurpose } from './account-token';
import type { SessionCheckCache } from '../auth/session-check-cache';

/**
 * How old a reset request must be before the sweep takes it as left behind: its own process
 * handles it within milliseconds of the reply, so the sweep does not race it in normal
 * operation (if it did, the claim would still let only one of them process it).
 */
export const RESET_REQUEST_LEFT_BEHIND_MS = 5_000;

/** Reset requests one sweep processes at most (each in its own short transaction). */
export const RESET_REQUEST_SWEEP_BATCH = 100;

/** What became of a reset request: mailed, or why not (the account's state, or its age). */
export type ResetRequestOutcome = 'mailed' | 'unknown' | 'disabled' | 'stale';

/** What one sweep of left-behind reset requests did. */
export interface ResetRequestSweep {
  /** Requests claimed and processed (mailed or not, see {@link ResetRequestOutcome}). */
  processed: number;
  /** Requests older than a reset link lives, deleted unprocessed. */
  dropped: number;
}

/** Where mailed links point, and how long each kind lives. */
export interface AccountLinks {
  /** APP_PUBLIC_URL: the front end's base URL. */
  publicUrl: string;
  verifyEmailPath: string;
  resetPasswordPath: string;
  confirmEmailPath: string;
  verificationTtlSeconds: number;
  resetTtlSeconds: number;
  emailChangeTtlSeconds: number;
}

export interface AccountServiceDeps {
  repository: AccountRepository;
  passwords: PasswordHasher;
  /** The same rules as registration, breached-password check included. */
  passwordPolicy: PasswordPolicy;
  audit: AuditLog;
  mails: AccountMails;
  /** The domain of the messages' `Message-ID`s. */
  mailDomain: string;
  links: AccountLinks;
  allowUnverifiedSignIn: boolean;
  /**
   * Runs work after the reply was sent, counted so shutdown waits for it (the processing of a
   * reset request: see {@link AccountService.forgotPassword}). Rejections are the runner's to
   * log; a request whose processing failed or never ran is left for the sweep.
   */
  runAfterReply: (what: string, work: () => Promise<void>) => void;
  /**
   * Called once a transaction that queued mail has committed: wakes the outbox sender, so the
   * message goes out now rather than at its next poll.
   */
  mailQueued?: () => void;
  logger: Logger;
  /** Told which user a transaction changed (sessions, address, deletion), once it has committed. */
  sessionChecks?: Pick<SessionCheckCache, 'forgetUser'>;
  now?: () => Date;
}

const invalidCurrentPassword = () =>
  new DomainError(AuthErrorCode.INVALID_CURRENT_PASSWORD, 'The current password is incorrect');
const accountGone = () =>
  new DomainError(AuthErrorCode.ACCOUNT_NOT_FOUND, 'The account no longer exists');

/**
 * The account lifecycle on plain data: email verification, password reset, email change and
 * deletion. Each change commits in one transaction with the token it spends or issues, the mail
 * that reports it (queued in the outbox, sent by the mail sender) and its audit event.
 */
export function createAccountService({
  repository,
  passwords,
  passwordPolicy,
  audit,
  mails,
  mailDomain,
  links,
  allowUnverifiedSignIn,
  runAfterReply,
  mailQueued = () => {},
  logger,
  sessionChecks,
  now = () => new Date(),
}: AccountServiceDeps) {
  const link = (path: string, token: string) =>
    `${links.publicUrl.replace(/\/+$/, '')}${path}?token=${token}`;
  const expiry = (at: Date, seconds: number) => new Date(at.getTime() + seconds * 1000);
  const queuedIn = new WeakSet<AccountTx>();
  const queue = (tx: AccountTx, mail: OutgoingMail) => {
    queuedIn.add(tx);
    return enqueueMail(tx, mail, mailDomain);
  };
  const changedIn = new WeakMap<AccountTx, string>();
  /** Marks the user whose sessions or session check `tx` changes. */
  const changes = (tx: AccountTx, userId: string) => changedIn.set(tx, userId);
  /**
   * One transaction (see the repository); once it has committed, wakes the sender if it queued
   * mail, and has this process's session checks forget the user it changed.
   */
  async function transaction<T>(work: (tx: AccountTx) => Promise<T>): Promise<T> {
    let queued = false;
    let changed: string | undefined;
    const result = await repository.transaction(async (tx) => {
      const value = await work(tx);
      queued = queuedIn.has(tx);
      changed = changedIn.get(tx);
      return value;
    });
    if (changed) sessionChecks?.forgetUser(changed);
    if (queued) mailQueued();
    return result;
  }

  /** Issues a verification link for `user` (voiding older ones) and queues its mail. */
  async function issueVerification(tx: AccountTx, user: { id: string; email: string }, at: Date) {
    const { token, hash } = newAccountToken();
    await repository.issueToken(
      tx,
      {
        userId: user.id,
        purpose: TokenPurpose.VERIFY_EMAIL,
        tokenHash: hash,
        expiresAt: expiry(at, links.verificationTtlSeconds),
      },
      at,
    );
    await queue(
      tx,
      mails.verifyEmail(
        user.email,
        link(links.verifyEmailPath, token),
        links.verificationTtlSeconds,
      ),
    );
  }

  const tokenSpentMeanwhile = () =>
    new DomainError(
      AccountErrorCode.ACCOUNT_TOKEN_INVALID,
      'This link was used a moment ago by another request; request a new one if needed',
    );

  /** The refusal of a token that could not be spent: expired, or invalid for any other reason. */
  async function tokenRefusal(purpose: TokenPurpose, hash: string, at: Date) {
    return (await repository.tokenFault(purpose, hash, at)) === 'expired'
      ? new DomainError(
          AccountErrorCode.ACCOUNT_TOKEN_EXPIRED,
          'This link has expired; request a new one',
        )
      : new DomainError(
          AccountErrorCode.ACCOUNT_TOKEN_INVALID,
          'This link is not valid (already used, replaced by a newer one, or mistyped); request a new one',
        );
  }

  /**
   * Finds whose live token `token` is, without spending it: the flows lock that user first, then
   * spend (the lock order of account.repository.ts).
   * @throws {DomainError} `ACCOUNT_TOKEN_EXPIRED` or `ACCOUNT_TOKEN_INVALID`.
   */
  async function tokenOwner(purpose: TokenPurpose, token: string, at: Date) {
    const hash = hashAccountToken(token);
    const live = await repository.findLiveToken(purpose, hash, at);
    if (!live) throw await tokenRefusal(purpose, hash, at);
    return { hash, userId: live.userId };
  }

  /**
   * Inside a transaction: locks the token's user, then spends the token in one statement (of
   * concurrent presentations, one wins; the others get `ACCOUNT_TOKEN_INVALID`).
   */
  async function spend(
    tx: AccountTx,
    purpose: TokenPurpose,
    owner: { hash: string; userId: string },
    at: Date,
  ): Promise<{ user: LockedUser; spent: SpentToken }> {
    const user = await repository.lockUser(tx, owner.userId);
    const spent = user && (await repository.spendToken(tx, purpose, owner.hash, user.id, at));
    // It was live a moment ago: another request spent it (or voided it) meanwhile. Diagnosed
    // without a second query: one outside the transaction would wait for this one's connection.
    if (!user || !spent) throw tokenSpentMeanwhile();
    return { user, spent };
  }

  /** Checks the account's password for a sensitive change. */
  async function reauthenticate(userId: string, password: string) {
    const user = await repository.findUserById(userId);
    if (!user) throw accountGone();
    if (!(await passwords.verify(user.passwordHash, password))) throw invalidCurrentPassword();
    return user;
  }

  /**
   * Claims one reset request and, in the same transaction, mails its address a reset link if
   * an enabled account uses it: older reset links voided, the token, the mail and the audit
   * event commit with the claim, or nothing does and the request stays for the sweep.
   * @returns what became of the request, or null when there was none to claim.
   */
  async function processResetRequest(
    which: { id: string } | { createdBefore: Date },
  ): Promise<ResetRequestOutcome | null> {
    const at = now();
    const outcome = await transaction(async (tx) => {
      const claimed = await repository.claimResetRequest(tx, which);
      if (!claimed) return null;
      if (claimed.createdAt.getTime() <= at.getTime() - links.resetTtlSeconds * 1000) {
        return 'stale' as const;
      }
      // The user row locked: of two concurrent requests, the later one voids the earlier's link.
      const user = await repository.lockUserByEmail(tx, claimed.email);
      if (!user) return 'unknown' as const;
      if (user.disabledAt !== null) return 'disabled' as const;
      const { token, hash } = newAccountToken();
      await repository.issueToken(
        tx,
        {
          userId: user.id,
          purpose: TokenPurpose.PASSWORD_RESET,
          tokenHash: hash,
          expiresAt: expiry(at, links.resetTtlSeconds),
        },
        at,
      );
      await queue(
        tx,
        mails.passwordReset(
          user.email,
          link(links.resetPasswordPath, token),
          links.resetTtlSeconds,
        ),
      );
      await audit.record(
        { type: 'password.reset_requested', subjectUserId: user.id, request: claimed.request },
        tx,
      );
      return 'mailed' as const;
    });
    if (outcome && outcome !== 'mailed') {
      logger.debug({ outcome }, 'password reset request processed: nothing sent');
    }
    return outcome;
  }

  /** What auth's own flows (register, change-password) do with the lifecycle. */
  const authHooks: AuthLifecycleHooks = {
    allowUnverifiedSignIn,
    // Both hooks queue a message.
    committed: mailQueued,
    async registered(tx, user, request) {
      await issueVerification(tx, user, now());
      await audit.record(
        { type: 'user.registered', subjectUserId: user.id, actorUserId: user.id, request },
        tx,
      );
    },
    async passwordChanged(tx, user, { sessionId, request }) {
      await repository.voidTokens(tx, user.id, [TokenPurpose.PASSWORD_RESET], now());
      await queue(tx, mails.passwordChanged(user.email));
      await audit.record(
        {
          type: 'password.changed',
          subjectUserId: user.id,
          actorUserId: user.id,
          sessionId,
          request,
        },
        tx,
      );
    },
  };

  return {
    authHooks,

    /**
     * Accepts a password reset request: records it (one INSERT, whatever the address), then has
     * it processed right after the reply (counted, so shutdown waits for it). Neither the reply
     * nor its timing depends on whether the address has an account; once this returns, the
     * request survives a crash or a database blip before it is processed: the sweep
     * ({@link AccountService.sweepResetRequests}) of any server process picks it up.
     */
    async forgotPassword(email: string, request: RequestMeta): Promise<void> {
      const id = await repository.recordResetRequest(email, request, now());
      runAfterReply('password reset request', async () => {
        await processResetRequest({ id });
      });
    },

    /**
     * Processes the reset requests left behind: those older than `leftBehindMs` whose
     * after-reply processing never ran or failed (a crash, a database blip). Requests older
     * than a reset link lives are dropped unmailed. Safe on every replica at once: each request
     * is claimed by one of them (SKIP LOCKED). At most `batchSize` are processed per call.
     */
    async sweepResetRequests({
      leftBehindMs = RESET_REQUEST_LEFT_BEHIND_MS,
      batchSize = RESET_REQUEST_SWEEP_BATCH,
    }: { leftBehindMs?: number; batchSize?: number } = {}): Promise<ResetRequestSweep> {
      const at = now();
      const dropped = await repository.dropResetRequests(
        new Date(at.getTime() - links.resetTtlSeconds * 1000),
      );
      const createdBefore = new Date(at.getTime() - leftBehindMs);
      let processed = 0;
      while (processed < batchSize && (await processResetRequest({ createdBefore }))) {
        processed += 1;
      }
      return { processed, dropped };
    },

    /**
     * Completes a reset: the new password (same rules as registration), every session and access
     * token revoked, other reset links voided, the address confirmed (the link proved the
     * mailbox), a notification queued, the audit event: one transaction.
     */
    async resetPassword(input: { token: string; newPassword: string }, request: RequestMeta) {
      // The token first (one indexed read): a wrong link costs no password hash.
      const owner = await tokenOwner(TokenPurpose.PASSWORD_RESET, input.token, now());
      await passwordPolicy.assertAcceptable(input.newPassword);
      const passwordHash = await passwords.hash(input.newPassword);
      const at = now();
      await transaction(async (tx) => {
        const { user } = await spend(tx, TokenPurpose.PASSWORD_RESET, owner, at);
        await repository.setPasswordHash(tx, user.id, passwordHash, user.emailVerifiedAt ?? at);
        await repository.voidTokens(tx, user.id, [TokenPurpose.PASSWORD_RESET], at);
        await repository.revokeAllSessions(tx, user.id, at);
        changes(tx, user.id);
        await queue(tx, mails.passwordResetCompleted(user.email));
        await audit.record(
          {
            type: 'password.reset_completed',
            subjectUserId: user.id,
            actorUserId: user.id,
            request,
          },
          tx,
        );
      });
    },

    /** Confirms the address with the token of a verification link. */
    async verifyEmail(token: string, request: RequestMeta): Promise<void> {
      const owner = await tokenOwner(TokenPurpose.VERIFY_EMAIL, token, now());
      const at = now();
      await transaction(async (tx) => {
        const { user } = await spend(tx, TokenPurpose.VERIFY_EMAIL, owner, at);
        await repository.voidTokens(tx, user.id, [TokenPurpose.VERIFY_EMAIL], at);
        if (user.emailVerifiedAt !== null) return;
        await repository.markEmailVerified(tx, user.id, at);
        changes(tx, user.id);
        await audit.record(
          {
            type: 'email.verified',
            subjectUserId: user.id,
            actorUserId: user.id,
            data: { email: user.email },
            request,
          },
          tx,
        );
      });
    },

    /** Mails a new verification link (the older ones stop working). */
    async resendVerification(caller: AccessClaims): Promise<void> {
      const at = now();
      await transaction(async (tx) => {
        const user = await repository.lockUser(tx, caller.userId);
        if (!user) throw accountGone();
        if (user.emailVerifiedAt !== null) {
          throw new DomainError(
            AccountErrorCode.EMAIL_ALREADY_VERIFIED,
            'This address is confirmed already',
          );
        }
        await issueVerification(tx, user, at);
      });
    },

    /**
     * Starts an email change: the current password, then a confirmation link to the new address
     * and a notice to the current one. A taken address fails as registration does
     * (`EMAIL_TAKEN`), and reveals no more than registration would.
     */
    async requestEmailChange(
      caller: AccessClaims,
      input: { newEmail: string; currentPassword: string },
      request: RequestMeta,
    ): Promise<void> {
      const found = await reauthenticate(caller.userId, input.currentPassword);
      if (input.newEmail === found.email) {
        throw new DomainError(CommonErrorCode.VALIDATION_FAILED, 'This is already your address', {
          details: [{ field: 'newEmail', message: 'is already the address of this account' }],
        });
      }
      if (await repository.emailTaken(input.newEmail)) {
        throw new DomainError(
          AuthErrorCode.EMAIL_TAKEN,
          'An account with this email already exists',
        );
      }
      const at = now();
      const { token, hash } = newAccountToken();
      await transaction(async (tx) => {
        const user = await repository.lockUser(tx, caller.userId);
        if (!user) throw accountGone();
        await repository.issueToken(
          tx,
          {
            userId: user.id,
            purpose: TokenPurpose.EMAIL_CHANGE,
            tokenHash: hash,
            expiresAt: expiry(at, links.emailChangeTtlSeconds),
            newEmail: input.newEmail,
          },
          at,
        );
        await queue(
          tx,
          mails.confirmEmailChange(
            input.newEmail,
            link(links.confirmEmailPath, token),
            links.emailChangeTtlSeconds,
          ),
        );
        await queue(tx, mails.emailChangeRequested(user.email, input.newEmail));
        await audit.record(
          {
            type: 'email.change_requested',
            subjectUserId: user.id,
            actorUserId: user.id,
            sessionId: caller.sessionId,
            data: { from: user.email, to: input.newEmail },
            request,
          },
          tx,
        );
      });
    },

    /** Confirms an email change with the token mailed to the new address. */
    async confirmEmailChange(token: string, request: RequestMeta): Promise<void> {
      const owner = await tokenOwner(TokenPurpose.EMAIL_CHANGE, token, now());
      const at = now();
      await transaction(async (tx) => {
        const { user, spent } = await spend(tx, TokenPurpose.EMAIL_CHANGE, owner, at);
        if (!spent.newEmail) throw tokenSpentMeanwhile();
        // The unique index decides a race for the address: EMAIL_TAKEN, and nothing committed.
        await repository.changeEmail(tx, user.id, spent.newEmail, at);
        changes(tx, user.id);
        // Links mailed to the old address, or for another new one, stop working.
        await repository.voidTokens(
          tx,
          user.id,
          [TokenPurpose.VERIFY_EMAIL, TokenPurpose.EMAIL_CHANGE],
          at,
        );
        await queue(tx, mails.emailChanged(user.email, spent.newEmail));
        await audit.record(
          {
            type: 'email.changed',
            subjectUserId: user.id,
            actorUserId: user.id,
            data: { from: user.email, to: spent.newEmail },
            request,
          },
          tx,
        );
      });
    },

    /**
     * Deletes the account with its password: the user row, and by cascade its sessions, refresh
     * tokens and account tokens, with the audit event and the confirmation mail, in one
     * transaction. Its access tokens are refused from the next request on by this process, within
     * AUTH_SESSION_CACHE_MS by every other (the session check finds no account); the address is
     * free to register again.
     */
    async deleteAccount(caller: AccessClaims, password: string, request: RequestMeta) {
      await reauthenticate(caller.userId, password);
      await transaction(async (tx) => {
        const user = await repository.lockUser(tx, caller.userId, true);
        if (!user) throw accountGone();
        await queue(tx, mails.accountDeleted(user.email));
        await audit.record(
          {
            type: 'account.deleted',
            subjectUserId: user.id,
            actorUserId: user.id,
            sessionId: caller.sessionId,
            data: { email: user.email },
            request,
          },
          tx,
        );
        await repository.deleteUser(tx, user.id);
        changes(tx, user.id);
      });
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
