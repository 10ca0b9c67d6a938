/** Stable error codes of the auth feature, on top of the common ones (errors/domain-error.ts). */
export const AuthErrorCode = {
  /** No access token was sent. */
  AUTH_REQUIRED: 'AUTH_REQUIRED',
  /** Malformed, badly signed, wrong issuer/audience/algorithm/type, or not yet valid. */
  TOKEN_INVALID: 'TOKEN_INVALID',
  TOKEN_EXPIRED: 'TOKEN_EXPIRED',
  /** Login failed; deliberately the same whether the email exists or not. */
  INVALID_CREDENTIALS: 'INVALID_CREDENTIALS',
  EMAIL_TAKEN: 'EMAIL_TAKEN',
  INVALID_CURRENT_PASSWORD: 'INVALID_CURRENT_PASSWORD',
  /** The account the token names no longer exists. */
  ACCOUNT_NOT_FOUND: 'ACCOUNT_NOT_FOUND',
  /** An already-rotated refresh token came back: its whole session was revoked. Log in again. */
  REFRESH_TOKEN_REUSED: 'REFRESH_TOKEN_REUSED',
  /** The refresh token's session was logged out or revoked. */
  REFRESH_TOKEN_REVOKED: 'REFRESH_TOKEN_REVOKED',
  /**
   * The access token's session has ended: logged out, revoked, ended by a password change or a
   * refresh-token reuse. Access tokens are checked against their session on every request.
   */
  SESSION_REVOKED: 'SESSION_REVOKED',
  /** The session reached its absolute lifetime. Log in again. */
  SESSION_EXPIRED: 'SESSION_EXPIRED',
  SESSION_NOT_FOUND: 'SESSION_NOT_FOUND',
  /**
   * An admin disabled the account: sign-in (with the right password), refresh and its access
   * tokens are refused until it is enabled again.
   */
  ACCOUNT_DISABLED: 'ACCOUNT_DISABLED',
  /**
   * A refresh or logout that uses the refresh cookie came from an origin that may not use it
   * (the CSRF check, see auth/refresh-cookie.ts).
   */
  CSRF_ORIGIN_REFUSED: 'CSRF_ORIGIN_REFUSED',
} as const;

export type AuthErrorCode = (typeof AuthErrorCode)[keyof typeof AuthErrorCode];
