import { register, type Account } from '../../harness/auth-api';
import { startLoad, summarizeFailures, waitForRequests } from '../../harness/load-generator';
import { startNginx, type Nginx } from '../../harness/nginx';
import type { Database } from '../../harness/postgres';
import { startApp, type AppProcess } from '../helpers/built-app';
import { TEST_SECRETS } from '../helpers/deploy-environment';
import { migratedDatabase } from '../helpers/e2e-database';

// Per-instance counts come from nginx's access log (upstream=); /health/metrics, once it exists,
// gives the same numbers from each replica.
describe('three replicas behind the shipped nginx config', () => {
  let database: Database;
  let apps: AppProcess[] = [];
  let nginx: Nginx;
  let session: Account;

  beforeAll(async () => {
    database = await migratedDatabase();
    const env = {
      DATABASE_URL: database.url,
      DATABASE_POOL_SIZE: '4',
      TRUST_PROXY: '1',
      RATE_LIMIT_API_MAX: '1000000',
      ...TEST_SECRETS,
    };
    apps = await Promise.all([startApp({ env }), startApp({ env }), startApp({ env })]);
    nginx = await startNginx({ upstreams: apps.map((app) => app.address) });
    session = await register(nginx.url, { label: 'replicas' });
  });
  afterAll(async () => {
    await nginx?.destroy();
    await Promise.all(apps.map((app) => app.stop()));
    await database?.drop();
  });

  const getLoad = () =>
    startLoad({
      baseUrl: nginx.url,
      concurrency: 9,
      pauseMs: 10,
      next: (worker) =>
        worker % 2
          ? { method: 'GET', path: '/health/live' }
          : {
              method: 'GET',
              path: '/api/auth/me',
              headers: { Authorization: `Bearer ${session.accessToken}` },
            },
    });

  it('spreads concurrent requests over all three replicas (least_conn)', async () => {
    const before = nginx.accessLog().length;
    const load = getLoad();
    await waitForRequests(load, 600);
    const report = await load.stop();

    expect(summarizeFailures(report.failures)).toEqual([]);
    const entries = nginx.accessLog().slice(before);
    const perReplica = apps.map(
      (app) => entries.filter((e) => e.upstreams[0] === app.address).length,
    );
    console.log(
      `least_conn over 3 replicas: ${entries.length} requests -> ${perReplica.join(' / ')}`,
    );
    expect(perReplica.reduce((a, b) => a + b, 0)).toBe(entries.length);
    // Each replica takes a real share, not a stray request: least_conn balances in-flight counts.
    for (const count of perReplica) expect(count).toBeGreaterThan(entries.length * 0.05);
  });

  it('loses no GET request when a replica is SIGKILLed under load: nginx retries another one', async () => {
    const before = nginx.accessLog().length;
    const load = getLoad();
    await waitForRequests(load, 300);
    const victim = apps[0]!;
    expect(await victim.stop('SIGKILL')).toBe('SIGKILL');
    await waitForRequests(load, 600);
    const report = await load.stop();

    console.log(
      `SIGKILL under load: ${report.sent} requests, ${report.failures.length} failed, in ${report.durationMs} ms`,
    );
    expect(summarizeFailures(report.failures)).toEqual([]);
    expect(summarizeFailures(report.resets)).toEqual([]);
    const victimAddress = victim.address;
    const entries = nginx.accessLog().slice(before);
    // Requests that went to the dead replica first were answered by another one...
    const retried = entries.filter(
      (e) => e.upstreams[0] === victimAddress && e.upstreams.length > 1,
    );
    expect(retried.length).toBeGreaterThan(0);
    for (const entry of retried) expect(entry.status).toBe(200);
    // ...and every request got a reply from a live replica.
    for (const entry of entries) expect(entry.status).toBe(200);
  });
});
