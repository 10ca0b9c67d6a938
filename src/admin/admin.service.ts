import type { RequestMeta } from '../audit/audit-log';
import { AuthErrorCode } from '../auth/auth.errors';
import { ROLES, roleCan } from '../auth/permissions';
import type { SessionCheckCache } from '../auth/session-check-cache';
import { CommonErrorCode, DomainError } from '../errors/domain-error';
import { AdminErrorCode } from './admin.errors';
import type {
  AdminRepository,
  AdminSession,
  AdminTransaction,
  AdminUser,
  UserFilter,
} from './admin.repository';

/** Who is acting: the admin's ids and where the request came from, for the audit log. */
export interface AdminActor {
  userId: string;
  sessionId: string;
  request: RequestMeta;
}

export interface UsersPage {
  users: AdminUser[];
  /** Pass back as `cursor` for the next page; null on the last page. */
  nextCursor: string | null;
}

/**
 * Roles that can manage users: the ones the last-admin rule protects. Derived from the role map,
 * so a project that adds a role granting `users:manage` has it counted.
 */
export const MANAGER_ROLES: readonly string[] = ROLES.filter((role) =>
  roleCan(role, 'users:manage'),
);

const notFound = () => new DomainError(AdminErrorCode.USER_NOT_FOUND, 'No user with this id');

/** Cursors are opaque to clients: the last email of the page, base64url-encoded. */
const encodeCursor = (email: string) => Buffer.from(email, 'utf8').toString('base64url');
function decodeCursor(cursor: string): string {
  const email = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!email.includes('@') || encodeCursor(email) !== cursor) {
    throw new DomainError(
      CommonErrorCode.VALIDATION_FAILED,
      'The cursor is not one this API returned',
      {
        details: [{ field: 'cursor', message: 'is not a cursor this API returned' }],
      },
    );
  }
  return email;
}

/**
 * The admin use cases, on plain data. Each change runs in one transaction with its audit
 * events, after locking the accounts that can manage users, so that "the last admin cannot be
 * demoted, disabled or deleted" holds even when two admins act on each other at the same time.
 * Disabling and deleting revoke every session in that transaction: the account's access tokens
 * are refused on every replica within AUTH_SESSION_CACHE_MS (the session check reads the
 * account), and from the next request on by this process, which forgets the account's checks.
 */
export function createAdminService({
  repository,
  sessionChecks,
  now = () => new Date(),
}: {
  repository: AdminRepository;
  /** Told which user a change was about, once it has committed (see session-check-cache.ts). */
  sessionChecks?: Pick<SessionCheckCache, 'forgetUser'>;
  now?: () => Date;
}) {
  /** A transaction that changes `userId`: this process's session checks forget it afterwards. */
  const changing = <T>(userId: string, work: (tx: AdminTransaction) => Promise<T>): Promise<T> =>
    repository.transaction(work).finally(() => sessionChecks?.forgetUser(userId));

  /** Refuses a change that would leave no enabled account able to manage users. */
  async function guardLastManager(
    tx: AdminTransaction,
    target: AdminUser,
    after: { role: string; disabled: boolean } | 'deleted',
  ): Promise<void> {
    const managers = await tx.lockManagers(MANAGER_ROLES);
    if (!managers.includes(target.id)) return;
    const staysManager =
      after !== 'deleted' && !after.disabled && MANAGER_ROLES.includes(after.role);
    if (!staysManager && managers.length <= 1) {
      throw new DomainError(
        AdminErrorCode.LAST_ADMIN,
        'This is the last enabled admin: promote another account first',
      );
    }
  }

  return {
    /** One page of users. Reading accounts is an admin action too: audited before the read. */
    async listUsers(
      actor: AdminActor,
      query: Omit<UserFilter, 'afterEmail'> & { cursor?: string | undefined },
      limit: number,
    ): Promise<UsersPage> {
      const { cursor, ...filter } = query;
      const afterEmail = cursor === undefined ? undefined : decodeCursor(cursor);
      await repository.record({
        type: 'admin.users_listed',
        actorUserId: actor.userId,
        sessionId: actor.sessionId,
        request: actor.request,
        // The filters given (undefined ones dropped): what the admin looked for.
        data: Object.fromEntries(
          Object.entries({ ...filter, limit }).filter(([, value]) => value !== undefined),
        ) as Record<string, string | number | boolean>,
      });
      // One more than asked: whether a next page exists, without a count.
      const rows = await repository.listUsers({ ...filter, afterEmail }, limit + 1);
      const users = rows.slice(0, limit);
      const last = users.at(-1);
      return {
        users,
        nextCursor: rows.length > limit && last ? encodeCursor(last.email) : null,
      };
    },

    /** One user with its active sessions (where it signs in from): audited once found. */
    async getUser(
      actor: AdminActor,
      id: string,
    ): Promise<{ user: AdminUser; sessions: AdminSession[] }> {
      const user = await repository.findUser(id);
      if (!user) throw notFound();
      await repository.record({
        type: 'admin.user_viewed',
        actorUserId: actor.userId,
        subjectUserId: id,
        sessionId: actor.sessionId,
        request: actor.request,
      });
      return { user, sessions: await repository.listActiveSessions(id, now()) };
    },

    /**
     * Changes the role and/or the disabled state. Disabling revokes every session at once;
     * enabling lets the account sign in again (its old sessions stay revoked).
     */
    updateUser(
      actor: AdminActor,
      id: string,
      change: { role?: string | undefined; disabled?: boolean | undefined },
    ): Promise<AdminUser> {
      return changing(id, async (tx) => {
        const before = await tx.findUser(id);
        if (!before) throw notFound();
        const role = change.role ?? before.role;
        const disabled = change.disabled ?? before.disabledAt !== null;
        await guardLastManager(tx, before, { role, disabled });

        const at = now();
        const roleChanged = role !== before.role;
        const disabling = disabled && before.disabledAt === null;
        const enabling = !disabled && before.disabledAt !== null;
        if (!roleChanged && !disabling && !enabling) return before;

        const user = await tx.updateUser(id, {
          ...(roleChanged ? { role } : {}),
          ...(disabling ? { disabledAt: at } : {}),
          ...(enabling ? { disabledAt: null } : {}),
        });
        const revoked = disabling ? await tx.revokeAllSessions(id, at) : [];
        const common = {
          actorUserId: actor.userId,
          subjectUserId: id,
          sessionId: actor.sessionId,
          request: actor.request,
        };
        await tx.audit([
          ...(roleChanged
            ? [{ ...common, type: 'role.changed' as const, data: { from: before.role, to: role } }]
            : []),
          ...(disabling
            ? [{ ...common, type: 'account.disabled' as const, data: { sessionsRevoked: revoked } }]
            : []),
          ...(enabling ? [{ ...common, type: 'account.enabled' as const }] : []),
        ]);
        return user;
      });
    },

    /** Deletes the account; its sessions end with it, so its access tokens are refused (see above). */
    deleteUser(actor: AdminActor, id: string): Promise<void> {
      return changing(id, async (tx) => {
        const target = await tx.findUser(id);
        if (!target) throw notFound();
        await guardLastManager(tx, target, 'deleted');
        // Revoked first, with the auth statement's lock order (sessions by id, then tokens),
        // so the cascade of the delete finds them locked already and cannot deadlock with a
        // rotation or a logout of the same sessions.
        await tx.revokeAllSessions(id, now());
        await tx.deleteUser(id);
        await tx.audit({
          type: 'admin.user_deleted',
          actorUserId: actor.userId,
          subjectUserId: id,
          sessionId: actor.sessionId,
          request: actor.request,
          data: { role: target.role },
        });
      });
    },

    /** Revokes every active session of the user. @returns how many. */
    revokeSessions(actor: AdminActor, userId: string): Promise<number> {
      return changing(userId, async (tx) => {
        if (!(await tx.findUser(userId))) throw notFound();
        const revoked = await tx.revokeAllSessions(userId, now());
        if (revoked.length > 0) {
          await tx.audit({
            type: 'admin.sessions_revoked',
            actorUserId: actor.userId,
            subjectUserId: userId,
            sessionId: actor.sessionId,
            request: actor.request,
            data: { sessionIds: revoked },
          });
        }
        return revoked.length;
      });
    },

    /** Revokes one active session of the user. */
    revokeSession(actor: AdminActor, userId: string, sessionId: string): Promise<void> {
      return changing(userId, async (tx) => {
        if (!(await tx.findUser(userId))) throw notFound();
        if (!(await tx.revokeSession(userId, sessionId, now()))) {
          throw new DomainError(
            AuthErrorCode.SESSION_NOT_FOUND,
            'This user has no active session with this id',
          );
        }
        await tx.audit({
          type: 'admin.sessions_revoked',
          actorUserId: actor.userId,
          subjectUserId: userId,
          sessionId: actor.sessionId,
          request: actor.request,
          data: { sessionIds: [sessionId] },
        });
      });
    },
  };
}

export type AdminService = ReturnType<typeof createAdminService>;
