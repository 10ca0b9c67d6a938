import type { Request, Response } from 'express';
import { CommonErrorCode, DomainError } from '../errors/domain-error';
import { defineRoute, type Authenticator, type Feature } from '../http/route';
import { AuthErrorCode } from './auth.errors';
import type { ActiveSession, PublicUser } from './auth.repository';
import {
  authResponse,
  changePasswordBody,
  loginBody,
  meResponse,
  refreshBody,
  registerBody,
  sessionParams,
  sessionsResponse,
} from './auth.schemas';
import type { AuthResult, AuthService, ClientInfo } from './auth.service';
import { clearRefreshCookie, readRefreshCookie, setRefreshCookie } from './refresh-cookie';
import type { TokenService } from './token-service';

/**
 * The auth feature's HTTP adapter, the only file of the feature that knows HTTP: its route table
 * (mounted by http/mount-routes.ts, described by docs/openapi.ts) and the bearer authenticator
 * every `auth: 'bearer'` route of any feature uses.
 */

export interface AuthRoutesDeps {
  auth: AuthService;
  /** `Secure` attribute of the refresh cookie. */
  refreshCookieSecure: boolean;
}

/** /api/auth: register, login, refresh, logout, sessions. */
export function authFeature({ auth, refreshCookieSecure }: AuthRoutesDeps): Feature {
  /** Sets the refresh cookie and shapes the token reply. */
  const tokenReply = <S extends 200 | 201>(res: Response, status: S, result: AuthResult) => {
    setRefreshCookie(res, result.refreshToken, result.refreshTokenExpiresAt, refreshCookieSecure);
    return {
      status,
      body: {
        user: toUserJson(result.user),
        accessToken: result.accessToken,
        refreshToken: result.refreshToken,
        expiresIn: result.expiresIn,
      },
    };
  };

  return {
    name: 'auth',
    description: 'Accounts, sessions and tokens',
    basePath: '/auth',
    // Token responses must never be stored by a cache (RFC 6749, section 5.1).
    headers: { 'Cache-Control': 'no-store' },
    routes: [
      defineRoute({
        method: 'post',
        path: '/register',
        summary: 'Create an account and start a session',
        auth: 'none',
        rateLimits: ['auth', 'authEmail'],
        body: registerBody,
        responses: {
          201: {
            description: 'Created; the refresh token is also set as an httpOnly cookie',
            body: authResponse,
          },
        },
        errors: [AuthErrorCode.EMAIL_TAKEN],
      }).handle(async ({ body, req, res }) =>
        tokenReply(
          res,
          201,
          await auth.register({ ...body, name: body.name ?? null }, clientInfo(req)),
        ),
      ),
      defineRoute({
        method: 'post',
        path: '/login',
        summary: 'Start a session',
        auth: 'none',
        rateLimits: ['auth', 'authEmail'],
        body: loginBody,
        responses: { 200: { description: 'Logged in', body: authResponse } },
        // Wrong email or password, deliberately indistinguishable.
        errors: [AuthErrorCode.INVALID_CREDENTIALS],
      }).handle(async ({ body, req, res }) =>
        tokenReply(res, 200, await auth.login(body, clientInfo(req))),
      ),
      defineRoute({
        method: 'post',
        path: '/refresh',
        summary: 'Exchange a refresh token for a new pair (the presented one is spent)',
        description:
          'The token comes from the body or the `refresh_token` cookie. Presenting a spent token revokes its session.',
        auth: 'none',
        rateLimits: ['refresh'],
        body: refreshBody,
        bodyOptional: true,
        responses: { 200: { description: 'A new token pair', body: authResponse } },
        errors: [
          AuthErrorCode.TOKEN_INVALID,
          AuthErrorCode.TOKEN_EXPIRED,
          AuthErrorCode.REFRESH_TOKEN_REUSED,
          AuthErrorCode.REFRESH_TOKEN_REVOKED,
          AuthErrorCode.SESSION_EXPIRED,
        ],
      }).handle(async ({ body, req, res }) =>
        tokenReply(res, 200, await auth.refresh(refreshTokenOf(body, req))),
      ),
      defineRoute({
        method: 'post',
        path: '/logout',
        summary: 'End the session of a refresh token',
        description:
          'Any refresh token of the session ends it, including a spent or expired one, as long as it was signed by this API: ending a session must always work. The access tokens of the session are refused from the next request on.',
        auth: 'none',
        body: refreshBody,
        bodyOptional: true,
        responses: { 204: { description: 'Logged out (also when already logged out)' } },
        errors: [AuthErrorCode.TOKEN_INVALID],
      }).handle(async ({ body, req, res }) => {
        await auth.logout(refreshTokenOf(body, req));
        clearRefreshCookie(res, refreshCookieSecure);
        return { status: 204 };
      }),
      defineRoute({
        method: 'post',
        path: '/logout-all',
        summary: "End every session of the token's user",
        auth: 'bearer',
        responses: { 204: { description: 'All sessions revoked' } },
        errors: [],
      }).handle(async ({ auth: caller, res }) => {
        await auth.logoutAll(caller);
        clearRefreshCookie(res, refreshCookieSecure);
        return { status: 204 };
      }),
      defineRoute({
        method: 'get',
        path: '/me',
        summary: 'The current user',
        auth: 'bearer',
        responses: { 200: { description: 'The user', body: meResponse } },
        // The authenticator read the user with the session check: no second read.
        errors: [],
      }).handle(({ auth: caller }) => ({ status: 200, body: { user: toUserJson(caller.user) } })),
      defineRoute({
        method: 'post',
        path: '/change-password',
        summary: 'Change the password; every other session is revoked',
        auth: 'bearer',
        body: changePasswordBody,
        responses: { 204: { description: 'Changed' } },
        errors: [AuthErrorCode.INVALID_CURRENT_PASSWORD, AuthErrorCode.ACCOUNT_NOT_FOUND],
      }).handle(async ({ auth: caller, body }) => {
        await auth.changePassword(caller, body);
        return { status: 204 };
      }),
      defineRoute({
        method: 'get',
        path: '/sessions',
        summary: "The user's active sessions",
        auth: 'bearer',
        responses: {
          200: { description: 'Sessions, most recently used first', body: sessionsResponse },
        },
        errors: [],
      }).handle(async ({ auth: caller }) => ({
        status: 200,
        body: { sessions: (await auth.listSessions(caller)).map(toSessionJson) },
      })),
      defineRoute({
        method: 'delete',
        path: '/sessions/:id',
        summary: 'Revoke one session',
        auth: 'bearer',
        params: sessionParams,
        responses: { 204: { description: 'Revoked' } },
        errors: [AuthErrorCode.SESSION_NOT_FOUND],
      }).handle(async ({ auth: caller, params }) => {
        await auth.revokeSession(caller, params.id);
        return { status: 204 };
      }),
    ],
  };
}

/**
 * `Authorization: Bearer <access token>`. The signature and claims are checked first (no I/O);
 * then the token's session and its user are read in one statement, so a session that was logged
 * out, revoked, or ended by a password change refuses its access tokens at once, on every
 * replica and worker, and the handler receives the user without a second read.
 */
export function bearerAuthenticator(
  tokens: Pick<TokenService, 'verifyAccessToken'>,
  sessions: Pick<AuthService, 'authenticate'>,
): Authenticator {
  return {
    errors: [
      AuthErrorCode.AUTH_REQUIRED,
      AuthErrorCode.TOKEN_INVALID,
      AuthErrorCode.TOKEN_EXPIRED,
      AuthErrorCode.SESSION_REVOKED,
      AuthErrorCode.SESSION_EXPIRED,
      AuthErrorCode.ACCOUNT_NOT_FOUND,
    ],
    async authenticate(req, res) {
      const header = req.headers.authorization;
      if (!header?.startsWith('Bearer ') || header.length <= 7) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        throw new DomainError(
          AuthErrorCode.AUTH_REQUIRED,
          'Send an access token: Authorization: Bearer <token>',
        );
      }
      try {
        const claims = tokens.verifyAccessToken(header.slice(7));
        return { ...claims, user: await sessions.authenticate(claims) };
      } catch (error) {
        if (error instanceof DomainError) {
          res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
        }
        throw error;
      }
    },
  };
}

/** The refresh token from the JSON body, else from the httpOnly cookie. */
function refreshTokenOf(body: { refreshToken?: string | undefined }, req: Request): string {
  const token = body.refreshToken ?? readRefreshCookie(req);
  if (!token) {
    throw new DomainError(
      CommonErrorCode.VALIDATION_FAILED,
      'Send the refresh token in the body ({ "refreshToken": "..." }) or the refresh cookie',
      { details: [{ field: 'refreshToken', message: 'is required' }] },
    );
  }
  return token;
}

function clientInfo(req: Request): ClientInfo {
  return { userAgent: req.headers['user-agent']?.slice(0, 512) ?? null, ip: req.ip ?? null };
}

const toUserJson = (user: PublicUser) => ({ ...user, createdAt: user.createdAt.toISOString() });

const toSessionJson = (session: ActiveSession & { current: boolean }) => ({
  ...session,
  createdAt: session.createdAt.toISOString(),
  lastUsedAt: session.lastUsedAt.toISOString(),
  expiresAt: session.expiresAt.toISOString(),
});
