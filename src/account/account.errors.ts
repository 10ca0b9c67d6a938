/** Stable error codes of the account lifecycle (verification, reset, email change, deletion). */
export const AccountErrorCode = {
  /**
   * The link's token is unknown, already used, voided (a newer link, a password change), or
   * meant for another flow. Request a new link.
   */
  ACCOUNT_TOKEN_INVALID: 'ACCOUNT_TOKEN_INVALID',
  /** The link's token is past its lifetime. Request a new link. */
  ACCOUNT_TOKEN_EXPIRED: 'ACCOUNT_TOKEN_EXPIRED',
  /**
   * The account's address is not confirmed yet, and this deployment requires it to sign in
   * (`AUTH_ALLOW_UNVERIFIED_SIGN_IN=false`). Follow the mailed link, or reset the password.
   */
  EMAIL_NOT_VERIFIED: 'EMAIL_NOT_VERIFIED',
  /** The address is confirmed already: there is nothing to resend. */
  EMAIL_ALREADY_VERIFIED: 'EMAIL_ALREADY_VERIFIED',
} as const;

export type AccountErrorCode = (typeof AccountErrorCode)[keyof typeof AccountErrorCode];
