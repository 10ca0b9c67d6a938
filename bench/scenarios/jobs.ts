import type { Account } from '../../harness/auth-api';
import { request } from '../../harness/http-client';
import { METRIC } from '../../src/metrics/metric-names';
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

/**
 * Counts the session checks a server answered while a load ran, by where (the
 * `app_session_checks_total` counter on `/metrics`): the measurement's
 * `sessionChecksMemoryCount` and `sessionChecksDatabaseCount`, which the table shows as a share.
 */
export function countSessionChecks(url: string) {
  const read = async () => {
    const { status, text } = await request(`${url}/metrics`);
    if (status !== 200) throw new Error(`GET ${url}/metrics: ${status}`);
    const count = (source: string) => {
      const line = text
        .split('\n')
        .find((l) => l.startsWith(`${METRIC.sessionChecks}{source="${source}"} `));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    };
    return { memory: count('memory'), database: count('database') };
  };
  return async (done: Promise<unknown>) => {
    const before = await read();
    await done;
    const after = await read();
    return {
      sessionChecksMemoryCount: after.memory - before.memory,
      sessionChecksDatabaseCount: after.database - before.database,
    };
  };
}
