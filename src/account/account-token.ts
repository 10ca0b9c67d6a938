import { createHash, randomBytes } from 'node:crypto';

/**
 * The tokens mailed in links: 32 random bytes (base64url, 43 characters), so guessing one is
 * hopeless; only their SHA-256 is stored (`account_tokens.token_hash`), so a database leak
 * yields no usable link. Single use, and an expiry of their own (see account.repository.ts).
 */

/** What a mailed token is for: a token of one purpose is refused by every other flow. */
export const TokenPurpose = {
  VERIFY_EMAIL: 'verify_email',
  PASSWORD_RESET: 'password_reset',
  EMAIL_CHANGE: 'email_change',
} as const;

export type TokenPurpose = (typeof TokenPurpose)[keyof typeof TokenPurpose];

/** A fresh token: the text mailed to the user and the hash stored. */
export function newAccountToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashAccountToken(token) };
}

export const hashAccountToken = (token: string) => createHash('sha256').update(token).digest('hex');
