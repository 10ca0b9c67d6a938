/** Stable error codes of the admin feature, on top of the common and auth ones. */
export const AdminErrorCode = {
  /** No account with this id (never existed, or deleted). */
  USER_NOT_FOUND: 'USER_NOT_FOUND',
  /**
   * The change would leave no enabled account able to manage users: the last admin cannot be
   * demoted, disabled or deleted.
   */
  LAST_ADMIN: 'LAST_ADMIN',
} as const;

export type AdminErrorCode = (typeof AdminErrorCode)[keyof typeof AdminErrorCode];
