import { createHash, createSecretKey, randomUUID, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import type { Config } from '../config';
import { DomainError } from '../errors/domain-error';
import { AuthErrorCode } from './auth.errors';

/** What a verified access token says. */
export interface AccessClaims {
  userId: string;
  /** The session (login) the token was issued to. */
  sessionId: string;
}

/** What a verified refresh token says. */
export interface RefreshClaims extends AccessClaims {
  /** The token's own id: the primary key of its row. */
  tokenId: string;
  /**
   * The session's absolute end (the signed `sexp` claim), so a rotation can sign the successor
   * without reading the session first. Undefined in tokens signed before the claim existed.
   */
  sessionExpiresAt: Date | undefined;
}

export interface IssuedRefreshToken {
  token: string;
  tokenId: string;
  tokenHash: string;
  expiresAt: Date;
}

const ALGORITHMS: jwt.Algorithm[] = ['HS256'];
type TokenType = 'access' | 'refresh';

/**
 * Signs and verifies the two kinds of JWT.
 *
 * Access tokens are verified with the secret alone (no database, no Redis), so any replica
 * accepts a token issued by any other. The two kinds use different secrets and carry a `typ`
 * claim, so one can never stand in for the other. Verification pins the algorithm list, the
 * issuer and the audience: `alg: none`, an RS/HS confusion, or a token minted for another
 * service all fail.
 *
 * Secrets become `KeyObject`s once: with a string secret, jsonwebtoken re-parses it as a
 * possible PEM key on every call, which measured ~15x slower per verification.
 */
export class TokenService {
  private readonly accessKey: KeyObject;
  private readonly refreshKey: KeyObject;
  private readonly issuer: string;
  private readonly audience: string;
  readonly accessTtlSeconds: number;
  readonly refreshTtlSeconds: number;

  constructor(config: Config['jwt']) {
    this.accessKey = createSecretKey(Buffer.from(config.accessSecret, 'utf8'));
    this.refreshKey = createSecretKey(Buffer.from(config.refreshSecret, 'utf8'));
    this.issuer = config.issuer;
    this.audience = config.audience;
    this.accessTtlSeconds = config.accessTtlSeconds;
    this.refreshTtlSeconds = config.refreshTtlSeconds;
  }

  signAccessToken({ userId, sessionId }: AccessClaims): string {
    return jwt.sign({ typ: 'access', sid: sessionId }, this.accessKey, {
      algorithm: 'HS256',
      subject: userId,
      issuer: this.issuer,
      audience: this.audience,
      expiresIn: this.accessTtlSeconds,
    });
  }

  /**
   * Signs a refresh token for a session; it expires after the refresh TTL or when the session
   * reaches its absolute lifetime, whichever comes first.
   */
  issueRefreshToken(
    { userId, sessionId }: AccessClaims,
    sessionExpiresAt: Date,
    now = new Date(),
  ): IssuedRefreshToken {
    const tokenId = randomUUID();
    // Whole seconds, as in the JWT, so the row and the token expire at the same instant.
    const exp = Math.floor(
      Math.min(now.getTime() + this.refreshTtlSeconds * 1000, sessionExpiresAt.getTime()) / 1000,
    );
    const expiresAt = new Date(exp * 1000);
    const token = jwt.sign(
      {
        typ: 'refresh',
        sid: sessionId,
        sexp: Math.floor(sessionExpiresAt.getTime() / 1000),
        iat: Math.floor(now.getTime() / 1000),
        exp,
      },
      this.refreshKey,
      {
        algorithm: 'HS256',
        subject: userId,
        issuer: this.issuer,
        audience: this.audience,
        jwtid: tokenId,
      },
    );
    return { token, tokenId, tokenHash: hashToken(token), expiresAt };
  }

  /** @throws {DomainError} `TOKEN_EXPIRED` or `TOKEN_INVALID`. */
  verifyAccessToken(token: string): AccessClaims {
    const payload = this.verify(token, this.accessKey, 'access', false);
    return { userId: payload.sub, sessionId: payload.sid };
  }

  /**
   * @param ignoreExpiration logout accepts an expired token: revoking a session must work
   *   whatever the token's age.
   * @throws {DomainError} `TOKEN_EXPIRED` or `TOKEN_INVALID`.
   */
  verifyRefreshToken(token: string, { ignoreExpiration = false } = {}): RefreshClaims {
    const payload = this.verify(token, this.refreshKey, 'refresh', ignoreExpiration);
    if (typeof payload.jti !== 'string') throw invalidToken();
    const sexp: unknown = payload.sexp;
    if (sexp !== undefined && !Number.isSafeInteger(sexp)) throw invalidToken();
    return {
      userId: payload.sub,
      sessionId: payload.sid,
      tokenId: payload.jti,
      sessionExpiresAt: typeof sexp === 'number' ? new Date(sexp * 1000) : undefined,
    };
  }

  private verify(token: string, key: KeyObject, typ: TokenType, ignoreExpiration: boolean) {
    let payload: string | jwt.JwtPayload;
    try {
      payload = jwt.verify(token, key, {
        algorithms: ALGORITHMS,
        issuer: this.issuer,
        audience: this.audience,
        ignoreExpiration,
      });
    } catch (error) {
      if (error instanceof jwt.TokenExpiredError) {
        throw new DomainError(AuthErrorCode.TOKEN_EXPIRED, 'The token has expired', {
          cause: error,
        });
      }
      throw invalidToken(error);
    }
    if (
      typeof payload === 'string' ||
      payload.typ !== typ ||
      typeof payload.sub !== 'string' ||
      typeof payload.sid !== 'string'
    ) {
      throw invalidToken();
    }
    return payload as jwt.JwtPayload & { sub: string; sid: string };
  }
}

/** Refresh tokens are stored only as this hash: a database leak yields no usable token. */
export const hashToken = (token: string) => createHash('sha256').update(token).digest('hex');

const invalidToken = (cause?: unknown) =>
  new DomainError(AuthErrorCode.TOKEN_INVALID, 'The token is invalid', { cause });
