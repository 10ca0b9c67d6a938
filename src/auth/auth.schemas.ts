import { z } from 'zod';
import { MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS } from './password-hasher';

/**
 * The request and response shapes of /api/auth. The route table (auth.routes.ts) names them:
 * requests are validated with them, the OpenAPI document is generated from them, and the
 * integration tier checks every reply against them. Replies are strict objects, so a field
 * added to a reply without its schema (a leaked hash, say) fails a test.
 */

/** Trimmed and lower-cased before validation: `A@X.com ` and `a@x.com` are one account. */
export const emailSchema = z.preprocess(
  (value) => (typeof value === 'string' ? value.trim().toLowerCase() : value),
  z.email({ message: 'must be a valid email address' }).max(254),
);

const boundedPassword = z
  .string({ message: 'must be a string' })
  .refine((value) => Buffer.byteLength(value) <= MAX_PASSWORD_BYTES, {
    message: `must be at most ${MAX_PASSWORD_BYTES} bytes`,
  });

/** A password being set: at least 8 characters (code points, so any script counts fairly). */
export const newPasswordSchema = boundedPassword
  .refine((value) => [...value].length >= MIN_PASSWORD_CHARS, {
    message: `must be at least ${MIN_PASSWORD_CHARS} characters`,
  })
  .meta({ minLength: MIN_PASSWORD_CHARS, maxLength: MAX_PASSWORD_BYTES });

/** A password being checked: no minimum (a policy change must not lock anyone out). */
export const currentPasswordSchema = boundedPassword.refine((value) => value.length > 0, {
  message: 'is required',
});

/**
 * How the client wants its refresh token: `body` (the default, for apps, servers and scripts) in
 * the JSON reply, or `cookie` (for browsers) only in an httpOnly cookie that page scripts never
 * see. Refresh and logout answer in the mode their token came in.
 */
export const tokenDeliverySchema = z
  .enum(['body', 'cookie'])
  .default('body')
  .describe(
    'Where the refresh token goes. `body` (default): in the JSON reply, no cookie. `cookie`: only in the httpOnly `__Host-refresh_token` cookie, never in a reply body; refresh and logout then read it from the cookie and require an allowed `Origin` (CSRF check).',
  );

export type TokenDelivery = z.output<typeof tokenDeliverySchema>;

export const registerBody = z.strictObject({
  email: emailSchema,
  password: newPasswordSchema,
  name: z.string().trim().min(1).max(100).optional(),
  tokenDelivery: tokenDeliverySchema,
});

export const loginBody = z.strictObject({
  email: emailSchema,
  password: currentPasswordSchema,
  tokenDelivery: tokenDeliverySchema,
});

/**
 * Refresh and logout: the token in the body (body delivery), or none, and then the httpOnly
 * cookie's (cookie delivery).
 */
export const refreshBody = z.strictObject({
  refreshToken: z.string().min(1).max(4_096).optional(),
});

export const changePasswordBody = z.strictObject({
  currentPassword: currentPasswordSchema,
  newPassword: newPasswordSchema,
});

export const sessionParams = z.strictObject({
  id: z.uuid({ message: 'must be a session id (UUID)' }),
});

export const userResponse = z.strictObject({
  id: z.uuid(),
  email: z.email(),
  name: z.string().nullable(),
  role: z
    .string()
    .describe("The account's role: `user` or `admin` (the role map is src/auth/permissions.ts)"),
  emailVerified: z
    .boolean()
    .describe('Whether the address was confirmed through the link mailed to it'),
  createdAt: z.iso.datetime(),
});

export const authResponse = z.strictObject({
  user: userResponse,
  accessToken: z.string().describe('JWT for the Authorization: Bearer header'),
  refreshToken: z
    .string()
    .optional()
    .describe(
      'Only in body delivery (`tokenDelivery: "body"`, or a refresh that sent its token in the body); in cookie delivery it is only in the httpOnly cookie. Single use: /refresh returns a new one and spends this one.',
    ),
  expiresIn: z.number().int().describe('Seconds until the access token expires'),
});

/** A registration whose address must be confirmed before it may sign in: no tokens. */
export const pendingVerificationResponse = z.strictObject({
  user: userResponse,
  verificationRequired: z
    .literal(true)
    .describe('Follow the link mailed to the address, then log in'),
});

export const registerResponse = z.union([authResponse, pendingVerificationResponse]);

export const meResponse = z.strictObject({ user: userResponse });

/** A session that can still refresh, as the user's list and the admin's show it. */
export const sessionSchema = z.strictObject({
  id: z.uuid(),
  createdAt: z.iso.datetime(),
  lastUsedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  userAgent: z.string().nullable(),
  ip: z.string().nullable(),
});

export const sessionsResponse = z.strictObject({
  sessions: z.array(
    sessionSchema.extend({
      current: z.boolean().describe('Whether this is the session of the token making the request'),
    }),
  ),
});
