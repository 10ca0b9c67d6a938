/** Stable error codes of password checks, shared by every endpoint that sets or verifies one. */
export const PasswordErrorCode = {
  /** The new password is among the most common breached passwords (see password-policy.ts). */
  PASSWORD_TOO_COMMON: 'PASSWORD_TOO_COMMON',
  /** The new password appears in a breach corpus (the optional online check). */
  PASSWORD_BREACHED: 'PASSWORD_BREACHED',
  /** The password hasher's queue is full in this process: retry shortly. */
  PASSWORD_CHECKS_BUSY: 'PASSWORD_CHECKS_BUSY',
} as const;

export type PasswordErrorCode = (typeof PasswordErrorCode)[keyof typeof PasswordErrorCode];
