import type { Request, Response } from 'express';
import { DomainError } from '../errors/domain-error';
import { AuthErrorCode } from './auth.errors';

/**
 * The refresh cookie of clients that chose `tokenDelivery: "cookie"` at sign-in (browsers): the
 * refresh token lives only here, httpOnly, out of reach of page scripts.
 *
 * The `__Host-` prefix (ASVS 5.0 3.3.1) makes browsers accept the cookie only when it is
 * `Secure`, has `Path=/` and no `Domain`, and was set over https (or by http://localhost): a
 * sibling subdomain (`evil.example.com` setting `Domain=example.com`) or a plain-http response
 * cannot plant or overwrite one. `__Secure-` would allow a narrower path but not refuse `Domain`,
 * so a sibling could still plant a cookie the API would read. The price of `Path=/` is that the
 * browser sends the cookie with every request to the API's origin, not only to /api/auth; the
 * API reads it nowhere else and never logs headers.
 *
 * `Secure` is not optional: browsers refuse a `__Host-` cookie without it. Chromium and Firefox
 * treat http://localhost (and, measured with Chromium 156, http://127.0.0.1) as secure, so
 * development over http works there.
 */
export const REFRESH_COOKIE = '__Host-refresh_token';

const COOKIE_OPTIONS = {
  httpOnly: true,
  secure: true,
  // Never sent by a request from another site. Within a site (another port, a sibling
  // subdomain) it is sent: the origin check below covers that.
  sameSite: 'strict',
  path: '/',
} as const;

/** Sets the refresh cookie to `token`, expiring with it. */
export function setRefreshCookie(res: Response, token: string, expires: Date): void {
  res.cookie(REFRESH_COOKIE, token, { ...COOKIE_OPTIONS, expires });
}

export function clearRefreshCookie(res: Response): void {
  res.clearCookie(REFRESH_COOKIE, COOKIE_OPTIONS);
}

/** The refresh cookie's value, if the request carries one (no cookie-parser needed for one name). */
export function readRefreshCookie(req: Request): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === REFRESH_COOKIE) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim()) || undefined;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/**
 * The CSRF check of a request that uses the refresh cookie (refresh, logout). SameSite=Strict
 * stops other sites, not other origins of the same site: a page on another port of the same
 * host, or on a sibling subdomain, can send a simple `POST` (no body, no preflight) that carries
 * the cookie. So the request must say where it comes from:
 *
 * - `Origin` is the API's own origin (scheme and `Host` as the app sees them, so behind a
 *   TLS-terminating proxy `TRUST_PROXY` must be set for the scheme to be `https`) or one of
 *   `allowedOrigins` (`FRONTEND_URL`); `Origin: null` (sandboxed frames, some redirects) never is.
 * - Without `Origin`, only `Sec-Fetch-Site: same-origin` passes. Browsers send `Origin` on every
 *   cross-origin POST (and Chromium on every POST), so a missing one means an older browser's
 *   same-origin request (which `Sec-Fetch-Site` then vouches for) or a client that is not a
 *   browser: such clients use `tokenDelivery: "body"`.
 *
 * @throws {DomainError} `CSRF_ORIGIN_REFUSED` (403).
 */
export function assertCookieRequestOrigin(req: Request, allowedOrigins: ReadonlySet<string>): void {
  const origin = req.headers.origin;
  if (origin === undefined) {
    if (req.headers['sec-fetch-site'] === 'same-origin') return;
  } else if (allowedOrigins.has(origin) || origin === ownOrigin(req)) {
    return;
  }
  throw new DomainError(
    AuthErrorCode.CSRF_ORIGIN_REFUSED,
    origin === undefined
      ? 'A request that uses the refresh cookie must carry an Origin header'
      : "This origin may not use the refresh cookie: it is neither the API's origin nor in FRONTEND_URL",
  );
}

/** `scheme://host[:port]` of the API as this request reached it. */
function ownOrigin(req: Request): string | undefined {
  const host = req.headers.host;
  return host ? `${req.protocol}://${host}` : undefined;
}
