import type { Account } from '../../harness/auth-api';
import type { BenchContext } from '../context';
import type { Measurement } from '../report';

/**
 * The two requests every deployment shape is measured on: `GET /health/live` (the whole
 * middleware stack, no authentication, no database) and `GET /api/auth/me` with a valid access
 * token (the whole stack plus one database read).
 */
export async function measureLiveAndMe(
  ctx: BenchContext,
  {
    url,
    account,
    group,
    prefix = { id: '', title: '' },
    store = ctx.storeName(),
  }: {
    url: string;
    account: Account;
    group: Measurement['group'];
    /** Before each id and title: `cluster-` and `cluster x2: `, say. */
    prefix?: { id: string; title: string };
    /** Where the rate limiter counts, for the title. */
    store?: string;
  },
): Promise<void> {
  await ctx.measure({
    id: `${prefix.id}live`,
    title: `${prefix.title}GET /health/live`,
    group,
    job: { url, method: 'GET', path: '/health/live' },
    floor: 'ref-express',
  });
  await ctx.measure({
    id: `${prefix.id}me`,
    title: `${prefix.title}GET /api/auth/me (${store} store)`,
    group,
    floor: 'ref-express-pg-read',
    job: {
      url,
      method: 'GET',
      path: '/api/auth/me',
      headers: { authorization: `Bearer ${account.accessToken}` },
    },
  });
}
