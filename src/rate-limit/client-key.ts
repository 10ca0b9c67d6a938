import { createHash } from 'node:crypto';
import type { Request, Response } from 'express';
import { ipKeyGenerator } from 'express-rate-limit';

/**
 * The email of a JSON body (`{ "email": ... }`), trimmed and lower-cased, or undefined when the
 * body has no usable one.
 *
 * Deliberately lax (any non-empty string): an address the auth schema would reject cannot log
 * in anyway, while a check stricter than the schema's would let accepted addresses escape the
 * per-account limit.
 */
export function emailFromBody(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const email = (body as { email?: unknown }).email;
  if (typeof email !== 'string') return undefined;
  const normalised = email.trim().toLowerCase();
  return normalised === '' ? undefined : normalised;
}

/**
 * The account a password-verifying request is about, as a rate-limit key: the authenticated
 * user on a `bearer` route (`change-password`, a re-authentication), else the email of the body
 * (`login`, `register`), else the mailed token of the body (`password/reset`), or undefined
 * when there is none. The email is hashed: Redis key
 * listings and memory dumps never show addresses, and a 100 kB "email" makes a key of fixed
 * size. An email and a user id are different keys for the same person: `login` is limited by
 * what it is given (an email that may not exist), `change-password` by who asks.
 */
export function accountKey(req: Request, caller: { userId: string } | undefined) {
  if (caller) return `user:${caller.userId}`;
  const email = emailFromBody(req.body);
  if (email !== undefined) return `email:${digest(email)}`;
  // A password reset names its account by the mailed token: an account has at most one live
  // reset token (a newer one voids it), so the token is that account's key until it is spent.
  const token = tokenFromBody(req.body);
  return token === undefined ? undefined : `token:${digest(token)}`;
}

const digest = (value: string) =>
  createHash('sha256').update(value).digest('base64url').slice(0, 22);

function tokenFromBody(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const token = (body as { token?: unknown }).token;
  return typeof token === 'string' && token !== '' ? token : undefined;
}

/**
 * A key generator for a (client address, account) limit: the address is `req.ip` through
 * `ipKeyGenerator` (an IPv6 client is keyed by its subnet, as for the per-address limits), the
 * account what {@link accountKey} found, read from `res.locals[ACCOUNT_LOCAL]`.
 */
export function ipAndAccountKey(ipv6Subnet: number): (req: Request, res: Response) => string {
  return (req, res) =>
    `${ipKeyGenerator(req.ip ?? '', ipv6Subnet)}|${String(res.locals[ACCOUNT_LOCAL])}`;
}

/** Where the sign-in policy leaves the account key for its limiters. */
export const ACCOUNT_LOCAL = 'rateLimitAccount';
