/**
 * Every test client is 127.0.0.1: with production limits, a file that registers 30 accounts
 * would be rate limited. Limits are tested on their own (rate-limit tests pass their own).
 */
export const GENEROUS_LIMITS = {
  RATE_LIMIT_API_MAX: '100000',
  RATE_LIMIT_AUTH_MAX: '100000',
  RATE_LIMIT_AUTH_EMAIL_MAX: '100000',
  RATE_LIMIT_REFRESH_MAX: '100000',
};
