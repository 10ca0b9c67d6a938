import type { RequestHandler } from 'express';
import { AppError } from '../http/errors';
import { AuthErrorCode } from './auth-errors';
import type { AccessClaims, TokenService } from './token-service';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** Set by requireAuth: who the verified access token belongs to. */
      auth?: AccessClaims;
    }
  }
}

/**
 * Requires `Authorization: Bearer <access token>`. Verification is the signature and claims
 * only, with no database or Redis call, so it costs microseconds and works on any replica.
 */
export function requireAuth(tokens: TokenService): RequestHandler {
  return (req, res, next) => {
    const header = req.headers.authorization;
    if (!header?.startsWith('Bearer ') || header.length <= 7) {
      res.setHeader('WWW-Authenticate', 'Bearer');
      throw new AppError(
        401,
        AuthErrorCode.AUTH_REQUIRED,
        'Send an access token: Authorization: Bearer <token>',
      );
    }
    try {
      req.auth = tokens.verifyAccessToken(header.slice(7));
    } catch (error) {
      res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"');
      throw error;
    }
    next();
  };
}

/** The verified claims; only valid behind {@link requireAuth}. */
export function authOf(req: Express.Request): AccessClaims {
  if (!req.auth) throw new Error('authOf() used on a route without requireAuth');
  return req.auth;
}
