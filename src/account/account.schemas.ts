import { z } from 'zod';
import { currentPasswordSchema, emailSchema, newPasswordSchema } from '../auth/auth.schemas';

/**
 * The request and reply shapes of the account lifecycle's routes (account.routes.ts): validated
 * with them, documented from them, and checked against them in the integration tier.
 */

/** The token of a mailed link (`?token=...`): 43 base64url characters; anything else is refused. */
const linkToken = z
  .string({ message: 'must be a string' })
  .trim()
  .min(1, { message: 'is required' })
  .max(512, { message: 'is not a token from a mailed link' })
  .describe('The `token` query parameter of the mailed link');

export const tokenBody = z.strictObject({ token: linkToken });

export const forgotPasswordBody = z.strictObject({ email: emailSchema });

export const resetPasswordBody = z.strictObject({
  token: linkToken,
  newPassword: newPasswordSchema,
});

export const emailChangeBody = z.strictObject({
  newEmail: emailSchema,
  currentPassword: currentPasswordSchema,
});

export const deleteAccountBody = z.strictObject({ password: currentPasswordSchema });

/** The one reply of `password/forgot`, whatever the address. */
export const FORGOT_PASSWORD_REPLY = {
  message:
    'If an account uses this address, a link to reset its password is on its way. It expires soon; check your spam folder.',
} as const;

export const acceptedResponse = z.strictObject({
  message: z.string().describe('The same text for every address'),
});
