import { eventually } from '../../harness/eventually';
import { request } from '../../harness/http-client';

/**
 * Every test client is 127.0.0.1: with production limits, a file that registers 30 accounts
 * would be rate limited. Limits are tested on their own (rate-limit tests pass their own).
 */
export const GENEROUS_LIMITS = {
  RATE_LIMIT_API_MAX: '100000',
  RATE_LIMIT_AUTH_MAX: '100000',
  RATE_LIMIT_AUTH_EMAIL_MAX: '100000',
  RATE_LIMIT_REFRESH_MAX: '100000',
  RATE_LIMIT_ACCOUNT_MAIL_MAX: '100000',
  RATE_LIMIT_ACCOUNT_MAIL_ACCOUNT_MAX: '100000',
  SIGN_IN_DELAY_AFTER_FAILURES: '100000',
  SIGN_IN_CONCURRENCY_PER_ACCOUNT: '1000',
};

const ONE_HOUR_MS = String(60 * 60_000);

/**
 * For tests that count requests against a limit exactly, on a machine that may be busy:
 * - every window lasts an hour, longer than any test: with the defaults (1 and 15 minutes) a
 *   window could end between two requests of a slow run and restart the count;
 * - a Redis command may take up to 10 s: with the production 250 ms, a command that a busy machine
 *   delays fails over to the in-memory count (as it should in production), which a test then sees
 *   as an extra pass and a logged outage. The outages these tests make stop Redis, whose
 *   commands then fail at once, timeout or not;
 * - Redis may take up to 30 s to connect at start-up before its absence is logged as an outage
 *   (2 s by default, which a server started on a busy machine can need just to connect).
 */
export const STEADY_LIMITS = {
  RATE_LIMIT_API_WINDOW_MS: ONE_HOUR_MS,
  RATE_LIMIT_AUTH_WINDOW_MS: ONE_HOUR_MS,
  RATE_LIMIT_REFRESH_WINDOW_MS: ONE_HOUR_MS,
  REDIS_COMMAND_TIMEOUT_MS: '10000',
  REDIS_CONNECT_TIMEOUT_MS: '30000',
};

/**
 * Resolves once the server at `url` counts in Redis. A server is ready before its rate limiters
 * have loaded their scripts into Redis (it counts in memory meanwhile, and says so in
 * /health/ready): a test that counts requests in Redis waits for this first.
 */
export async function countingInRedis(url: string): Promise<void> {
  await eventually(
    async () =>
      ((await request(`${url}/health/ready`)).body as { rateLimit?: { store?: string } }).rateLimit
        ?.store,
    { describe: `${url} to count in Redis`, until: (store) => store === 'redis' },
  );
}
