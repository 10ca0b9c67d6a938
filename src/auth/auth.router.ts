import { Router, type Request, type Response } from 'express';
import { badRequest } from '../http/errors';
import { parseInput } from '../http/validation';
import type { PublicUser } from './auth.repository';
import {
  changePasswordBody,
  loginBody,
  refreshBody,
  registerBody,
  sessionParams,
} from './auth.schemas';
import type { AuthResult, AuthService, ClientInfo } from './auth.service';
import { clearRefreshCookie, readRefreshCookie, setRefreshCookie } from './refresh-cookie';
import { authOf, requireAuth } from './require-auth';
import type { TokenService } from './token-service';

export interface AuthRouterDeps {
  auth: AuthService;
  tokens: TokenService;
  refreshCookieSecure: boolean;
}

/** /api/auth: adapts HTTP to the auth service (validate, call, shape the reply). */
export function createAuthRouter({ auth, tokens, refreshCookieSecure }: AuthRouterDeps): Router {
  const router = Router();
  const authenticated = requireAuth(tokens);

  // Token responses must never be stored by a cache (RFC 6749, section 5.1).
  router.use((_req, res, next) => {
    res.setHeader('Cache-Control', 'no-store');
    next();
  });

  const sendTokens = (res: Response, status: number, result: AuthResult) => {
    setRefreshCookie(res, result.refreshToken, result.refreshTokenExpiresAt, refreshCookieSecure);
    res.status(status).json({
      user: toUserJson(result.user),
      accessToken: result.accessToken,
      refreshToken: result.refreshToken,
      expiresIn: result.expiresIn,
    });
  };

  router.post('/register', async (req, res) => {
    const { email, password, name } = parseInput(registerBody, req.body);
    sendTokens(
      res,
      201,
      await auth.register({ email, password, name: name ?? null }, clientInfo(req)),
    );
  });

  router.post('/login', async (req, res) => {
    sendTokens(res, 200, await auth.login(parseInput(loginBody, req.body), clientInfo(req)));
  });

  router.post('/refresh', async (req, res) => {
    sendTokens(res, 200, await auth.refresh(refreshTokenOf(req)));
  });

  router.post('/logout', async (req, res) => {
    await auth.logout(refreshTokenOf(req));
    clearRefreshCookie(res, refreshCookieSecure);
    res.status(204).end();
  });

  router.post('/logout-all', authenticated, async (req, res) => {
    await auth.logoutAll(authOf(req));
    clearRefreshCookie(res, refreshCookieSecure);
    res.status(204).end();
  });

  router.get('/me', authenticated, async (req, res) => {
    res.json({ user: toUserJson(await auth.me(authOf(req))) });
  });

  router.post('/change-password', authenticated, async (req, res) => {
    await auth.changePassword(authOf(req), parseInput(changePasswordBody, req.body));
    res.status(204).end();
  });

  router.get('/sessions', authenticated, async (req, res) => {
    const sessions = await auth.listSessions(authOf(req));
    res.json({
      sessions: sessions.map((session) => ({
        ...session,
        createdAt: session.createdAt.toISOString(),
        lastUsedAt: session.lastUsedAt.toISOString(),
        expiresAt: session.expiresAt.toISOString(),
      })),
    });
  });

  router.delete('/sessions/:id', authenticated, async (req, res) => {
    await auth.revokeSession(authOf(req), parseInput(sessionParams, req.params).id);
    res.status(204).end();
  });

  return router;
}

/** The refresh token from the JSON body, else from the httpOnly cookie. */
function refreshTokenOf(req: Request): string {
  const { refreshToken } = parseInput(refreshBody, req.body ?? {});
  const token = refreshToken ?? readRefreshCookie(req);
  if (!token) {
    throw badRequest(
      'Send the refresh token in the body ({ "refreshToken": "..." }) or the refresh cookie',
      [{ field: 'refreshToken', message: 'is required' }],
    );
  }
  return token;
}

function clientInfo(req: Request): ClientInfo {
  return { userAgent: req.headers['user-agent']?.slice(0, 512) ?? null, ip: req.ip ?? null };
}

const toUserJson = (user: PublicUser) => ({ ...user, createdAt: user.createdAt.toISOString() });
