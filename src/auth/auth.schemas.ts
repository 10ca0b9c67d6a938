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

export const registerBody = z.strictObject({
  email: emailSchema,
  password: newPasswordSchema,
  name: z.string().trim().min(1).max(100).optional(),
});

export const loginBody = z.strictObject({ email: emailSchema, password: currentPasswordSchema });

/** Refresh and logout: the token in the body, or (for browsers) in the httpOnly cookie. */
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
  createdAt: z.iso.datetime(),
});

export const authResponse = z.strictObject({
  user: userResponse,
  accessToken: z.string().describe('JWT for the Authorization: Bearer header'),
  refreshToken: z.string().describe('Single use: /refresh returns a new one and spends this one'),
  expiresIn: z.number().int().describe('Seconds until the access token expires'),
});

export const meResponse = z.strictObject({ user: userResponse });

export const sessionsResponse = z.strictObject({
  sessions: z.array(
    z.strictObject({
      id: z.uuid(),
      createdAt: z.iso.datetime(),
      lastUsedAt: z.iso.datetime(),
      expiresAt: z.iso.datetime(),
      userAgent: z.string().nullable(),
      ip: z.string().nullable(),
      current: z.boolean().describe('Whether this is the session of the token making the request'),
    }),
  ),
});
