import { createHash } from 'node:crypto';
import type { Request } from 'express';
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
 * A key generator for a (client address, email) limit. The address is `req.ip` through
 * `ipKeyGenerator` (an IPv6 client is keyed by its subnet, as for the per-address limits). The
 * email is hashed: Redis key listings and memory dumps never show addresses, and a 100 kB
 * "email" makes a key of fixed size. Requests without an email must be skipped (see
 * {@link emailFromBody}); their per-address limit still applies.
 */
export function ipAndEmailKey(ipv6Subnet: number): (req: Request) => string {
  return (req) => {
    const email = emailFromBody(req.body) ?? '';
    const emailHash = createHash('sha256').update(email).digest('base64url').slice(0, 22);
    return `${ipKeyGenerator(req.ip ?? '', ipv6Subnet)}|${emailHash}`;
  };
}
