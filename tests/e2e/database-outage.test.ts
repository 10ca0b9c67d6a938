import { eventually } from '../../harness/eventually';
import { request } from '../../harness/http-client';
import { startPostgres, type Database, type PostgresServer } from '../../harness/postgres';
import { startApp, TEST_ROUTES_SERVER, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';

/**
 * "Quickly": sooner than the database pool's connection timeout (5 s), so no answer waited for a
 * connection attempt to time out, let alone hung; with room to spare for a busy machine, where
 * these answers still take milliseconds of work.
 */
const QUICKLY_MS = 4_000;

describe('a PostgreSQL outage, with the server of its own that this test stops and restarts', () => {
  let postgres: PostgresServer;
  let database: Database;
  let app: AppProcess;

  beforeAll(async () => {
    postgres = await startPostgres();
    database = await migratedDatabase(postgres.adminUrl);
    app = await startApp({ entry: TEST_ROUTES_SERVER, env: { DATABASE_URL: database.url } });
  });
  afterAll(async () => {
    await app?.stop('SIGTERM');
    postgres?.destroy();
  });

  it('turns unready and answers 503 quickly while the process stays live, then recovers on its own', async () => {
    expect((await request(`${app.url}/health/ready`)).status).toBe(200);
    expect((await request(`${app.url}/test/query`)).status).toBe(200);
    const credentials = { email: 'outage@example.com', password: 'correct horse battery' };
    const registered = await request(`${app.url}/api/auth/register`, {
      method: 'POST',
      json: credentials,
    });
    expect(registered.status).toBe(201);
    const { accessToken, refreshToken } = registered.body as {
      accessToken: string;
      refreshToken: string;
    };

    postgres.stop();

    const ready = await request(`${app.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.ms).toBeLessThan(QUICKLY_MS);
    expect(ready.body).toMatchObject({
      status: 'unavailable',
      checks: [{ name: 'database', status: 'down', critical: true }],
    });

    // A route that needs the database: 503 SERVICE_UNAVAILABLE, quickly, not a 500 or a hang.
    const query = await request(`${app.url}/test/query`);
    expect(query.status).toBe(503);
    expect(query.ms).toBeLessThan(QUICKLY_MS);
    expect(query.headers['retry-after']).toBe('5');
    expect(query.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });

    // The auth endpoints that need the database say so the same way.
    const authCalls = [
      request(`${app.url}/api/auth/login`, { method: 'POST', json: credentials }),
      request(`${app.url}/api/auth/refresh`, { method: 'POST', json: { refreshToken } }),
      request(`${app.url}/api/auth/me`, { headers: { Authorization: `Bearer ${accessToken}` } }),
    ];
    for (const call of await Promise.all(authCalls)) {
      expect(call.status).toBe(503);
      expect(call.ms).toBeLessThan(QUICKLY_MS);
      expect(call.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    }

    // Liveness checks no dependency: an orchestrator must not restart a healthy process.
    expect((await request(`${app.url}/health/live`)).status).toBe(200);
    expect(app.exitStatus()).toBeUndefined();

    postgres.start();

    // No restart, no operator: the connection pool reconnects by itself.
    await eventually(async () => (await request(`${app.url}/health/ready`)).status, {
      describe: '/health/ready back to 200',
      timeoutMs: 60_000,
      until: (status) => status === 200,
    });
    expect((await request(`${app.url}/test/query`)).status).toBe(200);
    // The refresh token was never spent during the outage: it still works.
    const refreshed = await request(`${app.url}/api/auth/refresh`, {
      method: 'POST',
      json: { refreshToken },
    });
    expect(refreshed.status).toBe(200);
    expect(app.exitStatus()).toBeUndefined();
  });
});
