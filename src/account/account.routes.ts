import { AuthErrorCode } from '../auth/auth.errors';
import { PasswordErrorCode } from '../auth/password.errors';
import { defineRoute, type Feature } from '../http/route';
import { requestMeta } from '../http/request-context';
import { AccountErrorCode } from './account.errors';
import {
  acceptedResponse,
  deleteAccountBody,
  emailChangeBody,
  FORGOT_PASSWORD_REPLY,
  forgotPasswordBody,
  resetPasswordBody,
  tokenBody,
} from './account.schemas';
import type { AccountService } from './account.service';

/**
 * The account lifecycle's HTTP adapter: its routes sit beside auth's under /api/auth (the paths
 * clients know), in a feature of their own (its own OpenAPI tag).
 */
export function accountFeature({ account }: { account: AccountService }): Feature {
  const tokenErrors = [
    AccountErrorCode.ACCOUNT_TOKEN_INVALID,
    AccountErrorCode.ACCOUNT_TOKEN_EXPIRED,
  ] as const;
  return {
    name: 'account',
    description:
      'Account lifecycle: email verification, password reset, email change, deletion (links are mailed)',
    basePath: '/auth',
    headers: { 'Cache-Control': 'no-store' },
    routes: [
      defineRoute({
        method: 'post',
        path: '/verify-email',
        summary: 'Confirm the address with the token of a verification link',
        auth: 'none',
        body: tokenBody,
        responses: { 204: { description: 'Confirmed (`emailVerified` is true from now on)' } },
        errors: [...tokenErrors],
      }).handle(async ({ body, req }) => {
        await account.verifyEmail(body.token, requestMeta(req));
        return { status: 204 };
      }),
      defineRoute({
        method: 'post',
        path: '/verify-email/resend',
        summary: 'Mail a new verification link; older links stop working',
        auth: 'bearer',
        rateLimits: ['accountMail'],
        responses: { 202: { description: 'Queued' } },
        errors: [AccountErrorCode.EMAIL_ALREADY_VERIFIED],
      }).handle(async ({ auth: caller }) => {
        await account.resendVerification(caller);
        return { status: 202 };
      }),
      defineRoute({
        method: 'post',
        path: '/password/forgot',
        summary: 'Mail a password reset link, if an account uses the address',
        description:
          'Answers 202 with the same body, and in the same time, whether or not an account uses the address: before replying it only records the request (one insert, the same for every address); the lookup, the link and the mail follow the reply, in one transaction that consumes the request. A request accepted with 202 is not lost: if that processing never runs (a crash, a database blip), a sweep on every server process mails it within `PASSWORD_RESET_SWEEP_INTERVAL_MS`, unless it is older than a link lives. A disabled account gets no link. A newer link voids older ones; a link expires after `PASSWORD_RESET_TTL_SECONDS` (30 min).',
        auth: 'none',
        rateLimits: ['accountMail'],
        body: forgotPasswordBody,
        responses: { 202: { description: 'Accepted', body: acceptedResponse } },
        errors: [],
      }).handle(async ({ body, req }) => {
        await account.forgotPassword(body.email, requestMeta(req));
        return { status: 202, body: FORGOT_PASSWORD_REPLY };
      }),
      defineRoute({
        method: 'post',
        path: '/password/reset',
        summary: 'Set a new password with the token of a reset link; every session ends',
        description:
          'The new password follows the registration rules. Every session and access token of the account is revoked at once, other reset links stop working, the address counts as confirmed, and a notification is mailed.',
        auth: 'none',
        // Sets a password: the sign-in limits, keyed by the link's token (one live per account).
        rateLimits: ['signIn'],
        body: resetPasswordBody,
        responses: { 204: { description: 'Password set; log in with it' } },
        errors: [
          ...tokenErrors,
          PasswordErrorCode.PASSWORD_TOO_COMMON,
          PasswordErrorCode.PASSWORD_BREACHED,
        ],
      }).handle(async ({ body, req }) => {
        await account.resetPassword(body, requestMeta(req));
        return { status: 204 };
      }),
      defineRoute({
        method: 'post',
        path: '/email/change',
        summary: 'Start an email change: a confirmation link goes to the new address',
        description:
          'Requires the current password. The current address is notified; the change happens when the link is followed (`POST /api/auth/email/confirm`).',
        auth: 'bearer',
        rateLimits: ['signIn', 'accountMail'],
        body: emailChangeBody,
        responses: { 202: { description: 'Confirmation link queued' } },
        errors: [
          AuthErrorCode.INVALID_CURRENT_PASSWORD,
          AuthErrorCode.EMAIL_TAKEN,
          AuthErrorCode.ACCOUNT_NOT_FOUND,
        ],
      }).handle(async ({ auth: caller, body, req }) => {
        await account.requestEmailChange(caller, body, requestMeta(req));
        return { status: 202 };
      }),
      defineRoute({
        method: 'post',
        path: '/email/confirm',
        summary: 'Confirm an email change with the token mailed to the new address',
        auth: 'none',
        body: tokenBody,
        responses: { 204: { description: 'The account uses the new address from now on' } },
        errors: [...tokenErrors, AuthErrorCode.EMAIL_TAKEN],
      }).handle(async ({ body, req }) => {
        await account.confirmEmailChange(body.token, requestMeta(req));
        return { status: 204 };
      }),
      defineRoute({
        method: 'delete',
        path: '/me',
        summary: 'Delete the account, its sessions and its tokens',
        description:
          'Requires the password. Access tokens are refused within `AUTH_SESSION_CACHE_MS` (500 ms by default; at once by the instance that made the change); a confirmation is mailed; the address can register again.',
        auth: 'bearer',
        rateLimits: ['signIn'],
        body: deleteAccountBody,
        responses: { 204: { description: 'Deleted' } },
        errors: [AuthErrorCode.INVALID_CURRENT_PASSWORD, AuthErrorCode.ACCOUNT_NOT_FOUND],
      }).handle(async ({ auth: caller, body, req }) => {
        await account.deleteAccount(caller, body.password, requestMeta(req));
        return { status: 204 };
      }),
    ],
  };
}
