import type { Request, Response } from 'express';
import { AccountErrorCode } from '../account/account.errors';
import { CommonErrorCode, DomainError } from '../errors/domain-error';
import { defineRoute, type Authenticator, type Feature } from '../http/route';
import { AuthErrorCode } from './auth.errors';
import { PasswordErrorCode } from './password.errors';
import { roleCan } from './permissions';
import type { ActiveSession, PublicUser } from './auth.repository';
import {
  authResponse,
  changePasswordBody,
  loginBody,
  meResponse,
  refreshBody,
  registerBody,
  registerResponse,
  sessionParams,
  sessionsResponse,
  type TokenDelivery,
} from './auth.schemas';
import { requestMeta } from '../http/request-context';
import type { AuthResult, AuthService } from './auth.service';
import {
  assertCookieRequestOrigin,
  clearRefreshCookie,
  readRefreshCookie,
  REFRESH_COOKIE,
  setRefreshCookie,
} from './refresh-cookie';
import type { AccessClaims, TokenService } from './token-service';

/**
 * The auth feature's HTTP adapter, the only file of the feature that knows HTTP: its route table
 * (mounted by http/mount-routes.ts, described by docs/openapi.ts) and the bearer authenticator
 * every `auth: 'bearer'` route of any feature uses.
 */

export interface AuthRoutesDeps {
  auth: AuthService;
  /**
   * Origins besides the API's own whose pages may use the refresh cookie (`FRONTEND_URL`, the
   * CORS allowlist): the CSRF check of refresh and logout.
   */
  allowedOrigins: readonly string[];
}

/** /api/auth: register, login, refresh, logout, sessions. */
export function authFeature({ auth, allowedOrigins }: AuthRoutesDeps): Feature {
  const cookieOrigins: ReadonlySet<string> = new Set(allowedOrigins);

  /**
   * Shapes the token reply. Body delivery: the refresh token in the body, no cookie. Cookie
   * delivery: the refresh token only in the httpOnly cookie, never in a body a script can read.
   */
  const tokenReply = <S extends 200 | 201>(
    res: Response,
    status: S,
    result: AuthResult,
    delivery: TokenDelivery,
  ) => {
    const user = toUserJson(result.user);
    if (delivery === 'cookie') {
      setRefreshCookie(res, result.refreshToken, result.refreshTokenExpiresAt);
      return {
        status,
        body: { user, accessToken: result.accessToken, expiresIn: result.expiresIn },
      };
    }
    return {
      status,
      body: {
        user,
        accessToken: result.accessToken,
        refreshToken: result.refreshToken,
        expiresIn: result.expiresIn,
      },
    };
  };

  /**
   * The refresh token of a refresh or logout, and the delivery it came in: the body's, else the
   * cookie's, once the request's origin passed the CSRF check.
   */
  const presentedToken = (
    body: { refreshToken?: string | undefined },
    req: Request,
  ): { token: string; delivery: TokenDelivery } => {
    if (body.refreshToken) return { token: body.refreshToken, delivery: 'body' };
    const cookie = readRefreshCookie(req);
    if (!cookie) {
      throw new DomainError(
        CommonErrorCode.VALIDATION_FAILED,
        `Send the refresh token in the body ({ "refreshToken": "..." }) or the ${REFRESH_COOKIE} cookie`,
        { details: [{ field: 'refreshToken', message: 'is required' }] },
      );
    }
    assertCookieRequestOrigin(req, cookieOrigins);
    return { token: cookie, delivery: 'cookie' };
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
        rateLimits: ['signIn'],
        body: registerBody,
        description:
          'Queues a mail with a link that confirms the address (`POST /api/auth/verify-email`). When unconfirmed addresses may not sign in (`AUTH_ALLOW_UNVERIFIED_SIGN_IN=false`, the production default), the reply carries the user and `verificationRequired: true`, and no tokens.',
        responses: {
          201: {
            description:
              'Created. The refresh token is in the body (`tokenDelivery: "body"`, the default) or only in the httpOnly `__Host-refresh_token` cookie (`"cookie"`); or, when the address must be confirmed first, no tokens',
            body: registerResponse,
          },
        },
        errors: [
          AuthErrorCode.EMAIL_TAKEN,
          PasswordErrorCode.PASSWORD_TOO_COMMON,
          PasswordErrorCode.PASSWORD_BREACHED,
        ],
      }).handle(async ({ body: { tokenDelivery, ...input }, req, res }) => {
        const result = await auth.register(
          { ...input, name: input.name ?? null },
          requestMeta(req),
        );
        if ('verificationRequired' in result) {
          return {
            status: 201,
            body: { user: toUserJson(result.user), verificationRequired: true },
          };
        }
        return tokenReply(res, 201, result, tokenDelivery);
      }),
      defineRoute({
        method: 'post',
        path: '/login',
        summary: 'Start a session',
        auth: 'none',
        rateLimits: ['signIn'],
        body: loginBody,
        responses: {
          200: {
            description:
              'Logged in. The refresh token is in the body or only in the cookie, as `tokenDelivery` asked',
            body: authResponse,
          },
        },
        // Wrong email or password, deliberately indistinguishable. An unconfirmed address and a
        // disabled account are only reported once the password was right.
        errors: [
          AuthErrorCode.INVALID_CREDENTIALS,
          AccountErrorCode.EMAIL_NOT_VERIFIED,
          AuthErrorCode.ACCOUNT_DISABLED,
        ],
      }).handle(async ({ body: { tokenDelivery, ...credentials }, req, res }) =>
        tokenReply(res, 200, await auth.login(credentials, requestMeta(req)), tokenDelivery),
      ),
      defineRoute({
        method: 'post',
        path: '/refresh',
        summary: 'Exchange a refresh token for a new pair (the presented one is spent)',
        description:
          "The token comes from the body (the new one is returned in the body, no cookie is set) or, without one, from the `__Host-refresh_token` cookie (the new one is set in the cookie only, never in the body). A cookie request must carry an `Origin` that is the API's own or in `FRONTEND_URL` (403 `CSRF_ORIGIN_REFUSED` otherwise). Presenting a spent token revokes its session.",
        auth: 'none',
        rateLimits: ['refresh'],
        body: refreshBody,
        bodyOptional: true,
        responses: { 200: { description: 'A new token pair', body: authResponse } },
        errors: [
          AuthErrorCode.CSRF_ORIGIN_REFUSED,
          AuthErrorCode.TOKEN_INVALID,
          AuthErrorCode.TOKEN_EXPIRED,
          AuthErrorCode.REFRESH_TOKEN_REUSED,
          AuthErrorCode.REFRESH_TOKEN_REVOKED,
          AuthErrorCode.SESSION_EXPIRED,
          AuthErrorCode.ACCOUNT_DISABLED,
        ],
      }).handle(async ({ body, req, res }) => {
        const { token, delivery } = presentedToken(body, req);
        return tokenReply(res, 200, await auth.refresh(token, requestMeta(req)), delivery);
      }),
      defineRoute({
        method: 'post',
        path: '/logout',
        summary: 'End the session of a refresh token',
        description:
          'The token comes from the body or, without one, from the `__Host-refresh_token` cookie (which is then cleared; the same `Origin` rule as refresh applies). Any refresh token of the session ends it, including a spent or expired one, as long as it was signed by this API: ending a session must always work. The access tokens of the session are refused within `AUTH_SESSION_CACHE_MS` (500 ms by default; at once by the instance that made the change).',
        auth: 'none',
        body: refreshBody,
        bodyOptional: true,
        responses: { 204: { description: 'Logged out (also when already logged out)' } },
        errors: [AuthErrorCode.TOKEN_INVALID, AuthErrorCode.CSRF_ORIGIN_REFUSED],
      }).handle(async ({ body, req, res }) => {
        const { token, delivery } = presentedToken(body, req);
        await auth.logout(token, requestMeta(req));
        if (delivery === 'cookie') clearRefreshCookie(res);
        return { status: 204 };
      }),
      defineRoute({
        method: 'post',
        path: '/logout-all',
        summary: "End every session of the token's user",
        auth: 'bearer',
        responses: { 204: { description: 'All sessions revoked' } },
        errors: [],
      }).handle(async ({ auth: caller, req, res }) => {
        await auth.logoutAll(caller, requestMeta(req));
        clearRefreshCookie(res);
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
        description:
          'Pending password reset links stop working, and a notification is mailed to the account.',
        auth: 'bearer',
        // Verifies a password: the sign-in limits, keyed by the authenticated user.
        rateLimits: ['signIn'],
        body: changePasswordBody,
        responses: { 204: { description: 'Changed' } },
        errors: [
          AuthErrorCode.INVALID_CURRENT_PASSWORD,
          AuthErrorCode.ACCOUNT_NOT_FOUND,
          PasswordErrorCode.PASSWORD_TOO_COMMON,
          PasswordErrorCode.PASSWORD_BREACHED,
        ],
      }).handle(async ({ auth: caller, body, req }) => {
        await auth.changePassword(caller, body, requestMeta(req));
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
      }).handle(async ({ auth: caller, params, req }) => {
        await auth.revokeSession(caller, params.id, requestMeta(req));
        return { status: 204 };
      }),
    ],
  };
}

/**
 * `Authorization: Bearer <access token>`. The signature and claims are checked first (no I/O);
 * then the token's session and its user are read in one statement (or taken from this process's
 * check of the same session, less than AUTH_SESSION_CACHE_MS old: see session-check-cache.ts),
 * so a session that was logged out, revoked, or ended by a password change refuses its access
 * tokens within AUTH_SESSION_CACHE_MS on every replica and worker, and the handler receives the
 * user without a second read.
 *
 * `start` begins that read ahead, while the API-wide limit is counted (see mount-routes.ts):
 * for a well-formed bearer token with a valid signature only; anything else is left to
 * `authenticate`, which answers it as always. The read still happens after the request arrived,
 * so a revocation is seen exactly as before.
 */
export function bearerAuthenticator(
  tokens: Pick<TokenService, 'verifyAccessToken'>,
  sessions: Pick<AuthService, 'authenticate'>,
): Authenticator {
  type Started = { header: string; claims: AccessClaims; user: Promise<PublicUser> };
  // On the request itself rather than in a WeakMap: weak collections keyed by thousands of
  // short-lived requests a second make every garbage collection slower.
  const slot = (req: Request) => req as Request & { [STARTED]?: Started };
  return {
    errors: [
      AuthErrorCode.AUTH_REQUIRED,
      AuthErrorCode.TOKEN_INVALID,
      AuthErrorCode.TOKEN_EXPIRED,
      AuthErrorCode.SESSION_REVOKED,
      AuthErrorCode.SESSION_EXPIRED,
      AuthErrorCode.ACCOUNT_NOT_FOUND,
      AuthErrorCode.ACCOUNT_DISABLED,
    ],
    start(req) {
      const header = req.headers.authorization;
      if (header?.slice(0, 7).toLowerCase() !== 'bearer ' || header.length <= 7) return undefined;
      let claims: AccessClaims;
      try {
        claims = tokens.verifyAccessToken(header.slice(7));
      } catch {
        return undefined;
      }
      const user = sessions.authenticate(claims);
      // Its failure is answered by `authenticate`, or not at all if the limit refuses the request.
      user.catch(() => {});
      slot(req)[STARTED] = { header, claims, user };
      return user;
    },
    async authenticate(req, res) {
      const header = req.headers.authorization;
      // The scheme is case-insensitive (RFC 9110, section 11.1): `bearer` and `BEARER` too.
      if (header?.slice(0, 7).toLowerCase() !== 'bearer ' || header.length <= 7) {
        res.setHeader('WWW-Authenticate', 'Bearer');
        throw new DomainError(
          AuthErrorCode.AUTH_REQUIRED,
          'Send an access token: Authorization: Bearer <token>',
        );
      }
      try {
        const early = slot(req)[STARTED];
        if (early?.header === header) return { ...early.claims, user: await early.user };
        const claims = tokens.verifyAccessToken(header.slice(7));
        return { ...claims, user: await sessions.authenticate(claims) };
      } catch (error) {
        if (error instanceof DomainError) {
          res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
        }
        throw error;
      }
    },
    can: (principal, permission) => roleCan(principal.user.role, permission),
  };
}

/** Where `start` leaves the session check it began (see bearerAuthenticator). */
const STARTED = Symbol('bearer authentication started');

export const toUserJson = (user: PublicUser) => ({
  // Named one by one: only these fields reach a reply, whatever else the object carries.
  id: user.id,
  email: user.email,
  name: user.name,
  role: user.role,
  emailVerified: user.emailVerifiedAt !== null,
  createdAt: user.createdAt.toISOString(),
});

/** A session's reply: its times as ISO strings (the user's list and the admin's). */
export const toSessionJson = <S extends ActiveSession>(session: S) => ({
  ...session,
  createdAt: session.createdAt.toISOString(),
  lastUsedAt: session.lastUsedAt.toISOString(),
  expiresAt: session.expiresAt.toISOString(),
});
