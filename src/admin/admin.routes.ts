import { AuthErrorCode } from '../auth/auth.errors';
import { toSessionJson } from '../auth/auth.routes';
import { requestMeta } from '../http/request-context';
import { defineRoute, type Feature, type Principal } from '../http/route';
import type { Request } from 'express';
import { AdminErrorCode } from './admin.errors';
import type { AdminUser } from './admin.repository';
import {
  listUsersQuery,
  revokedResponse,
  updateUserBody,
  userDetailResponse,
  userParams,
  userResponse,
  userSessionParams,
  usersPageResponse,
} from './admin.schemas';
import type { AdminActor, AdminService } from './admin.service';

/**
 * /api/admin/users: the admin API's route table (the audit log's routes share the base path
 * from their own table). Every route requires a permission of src/auth/permissions.ts; the
 * authorization matrix test fails for an admin route without one.
 */
export function adminFeature({ admin }: { admin: AdminService }): Feature {
  const actor = (caller: Principal, req: Request): AdminActor => ({
    userId: caller.userId,
    sessionId: caller.sessionId,
    request: requestMeta(req),
  });

  return {
    name: 'admin',
    description: 'Managing users and their sessions (admin roles only)',
    basePath: '/admin',
    headers: { 'Cache-Control': 'no-store' },
    routes: [
      defineRoute({
        method: 'get',
        path: '/users',
        summary: 'List users, by email, a page at a time',
        description:
          'Filters combine: `email` is a prefix of the address, `role`, `disabled` and `verified` narrow further. Follow `nextCursor` until it is null.',
        auth: 'bearer',
        permission: 'users:read',
        query: listUsersQuery,
        responses: { 200: { description: 'One page of users', body: usersPageResponse } },
        errors: [],
      }).handle(async ({ auth: caller, query: { cursor, limit, email, ...filter }, req }) => {
        const page = await admin.listUsers(
          actor(caller, req),
          { cursor, emailPrefix: email, ...filter },
          limit,
        );
        return {
          status: 200,
          body: { users: page.users.map(toAdminUserJson), nextCursor: page.nextCursor },
        };
      }),
      defineRoute({
        method: 'get',
        path: '/users/:id',
        summary: 'One user, with its active sessions',
        auth: 'bearer',
        permission: 'users:read',
        params: userParams,
        responses: { 200: { description: 'The user', body: userDetailResponse } },
        errors: [AdminErrorCode.USER_NOT_FOUND],
      }).handle(async ({ auth: caller, params, req }) => {
        const { user, sessions } = await admin.getUser(actor(caller, req), params.id);
        return {
          status: 200,
          body: { user: toAdminUserJson(user), sessions: sessions.map(toSessionJson) },
        };
      }),
      defineRoute({
        method: 'patch',
        path: '/users/:id',
        summary: 'Change the role, disable or enable',
        description:
          'Disabling revokes every session of the account at once: its refresh tokens and sign-in are refused with `ACCOUNT_DISABLED` until it is enabled, and its access tokens within `AUTH_SESSION_CACHE_MS` (500 ms by default; at once by the instance that made the change). A role change applies to the account’s requests within `AUTH_SESSION_CACHE_MS` (500 ms by default; at once by the instance that made the change). The last enabled admin cannot be demoted or disabled (409 `LAST_ADMIN`).',
        auth: 'bearer',
        permission: 'users:manage',
        params: userParams,
        body: updateUserBody,
        responses: { 200: { description: 'The user after the change', body: userResponse } },
        errors: [AdminErrorCode.USER_NOT_FOUND, AdminErrorCode.LAST_ADMIN],
      }).handle(async ({ auth: caller, params, body, req }) => ({
        status: 200,
        body: {
          user: toAdminUserJson(await admin.updateUser(actor(caller, req), params.id, body)),
        },
      })),
      defineRoute({
        method: 'delete',
        path: '/users/:id',
        summary: 'Delete a user, its sessions and tokens',
        description:
          'Its access tokens are refused (`ACCOUNT_NOT_FOUND`) within `AUTH_SESSION_CACHE_MS` (500 ms by default; at once by the instance that made the change). The last enabled admin cannot be deleted (409 `LAST_ADMIN`).',
        auth: 'bearer',
        permission: 'users:manage',
        params: userParams,
        responses: { 204: { description: 'Deleted' } },
        errors: [AdminErrorCode.USER_NOT_FOUND, AdminErrorCode.LAST_ADMIN],
      }).handle(async ({ auth: caller, params, req }) => {
        await admin.deleteUser(actor(caller, req), params.id);
        return { status: 204 };
      }),
      defineRoute({
        method: 'delete',
        path: '/users/:id/sessions',
        summary: 'Revoke every session of a user',
        description:
          'Its refresh tokens are refused from the next request on, its access tokens within `AUTH_SESSION_CACHE_MS` (500 ms by default; at once by the instance that made the change)',
        auth: 'bearer',
        permission: 'sessions:manage',
        params: userParams,
        responses: { 200: { description: 'Revoked', body: revokedResponse } },
        errors: [AdminErrorCode.USER_NOT_FOUND],
      }).handle(async ({ auth: caller, params, req }) => ({
        status: 200,
        body: { revoked: await admin.revokeSessions(actor(caller, req), params.id) },
      })),
      defineRoute({
        method: 'delete',
        path: '/users/:id/sessions/:sessionId',
        summary: 'Revoke one session of a user',
        auth: 'bearer',
        permission: 'sessions:manage',
        params: userSessionParams,
        responses: { 204: { description: 'Revoked' } },
        errors: [AdminErrorCode.USER_NOT_FOUND, AuthErrorCode.SESSION_NOT_FOUND],
      }).handle(async ({ auth: caller, params, req }) => {
        await admin.revokeSession(actor(caller, req), params.id, params.sessionId);
        return { status: 204 };
      }),
    ],
  };
}

const toAdminUserJson = ({ emailVerifiedAt, disabledAt, createdAt, ...user }: AdminUser) => ({
  ...user,
  emailVerified: emailVerifiedAt !== null,
  disabled: disabledAt !== null,
  disabledAt: disabledAt?.toISOString() ?? null,
  createdAt: createdAt.toISOString(),
});
