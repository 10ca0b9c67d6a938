import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { startApp, TEST_ROUTES_SERVER, type AppProcess } from '../helpers/e2e/app-process';
import { eventually, send } from '../helpers/e2e/http';
import {
  createTestDatabase,
  startPostgres,
  type PostgresServer,
  type TestDatabase,
} from '../helpers/e2e/postgres';

const MIGRATE = path.resolve(__dirname, '../../dist/db/cli/migrate.js');

/** "Quickly": a client or probe gets its answer well within a typical probe timeout. */
const QUICKLY_MS = 2_000;

describe('a PostgreSQL outage, with the server of its own that this test stops and restarts', () => {
  let postgres: PostgresServer;
  let database: TestDatabase;
  let app: AppProcess;

  beforeAll(async () => {
    postgres = await startPostgres();
    database = await createTestDatabase(postgres.adminUrl);
    await promisify(execFile)(process.execPath, [MIGRATE], {
      env: { PATH: process.env.PATH, DATABASE_URL: database.url },
    });
    app = await startApp({ entry: TEST_ROUTES_SERVER, env: { DATABASE_URL: database.url } });
  });
  afterAll(async () => {
    await app?.stop('SIGTERM');
    postgres?.destroy();
  });

  it('turns unready and answers 503 quickly while the process stays live, then recovers on its own', async () => {
    expect((await send(`${app.url}/health/ready`)).status).toBe(200);
    expect((await send(`${app.url}/test/query`)).status).toBe(200);
    const credentials = { email: 'outage@example.com', password: 'correct horse battery' };
    const registered = await send(`${app.url}/api/auth/register`, {
      method: 'POST',
      json: credentials,
    });
    expect(registered.status).toBe(201);
    const { accessToken, refreshToken } = registered.body as {
      accessToken: string;
      refreshToken: string;
    };

    postgres.stop();

    const ready = await send(`${app.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.ms).toBeLessThan(QUICKLY_MS);
    expect(ready.body).toMatchObject({
      status: 'unavailable',
      checks: [{ name: 'database', status: 'down', critical: true }],
    });

    // A route that needs the database: 503 SERVICE_UNAVAILABLE, quickly, not a 500 or a hang.
    const query = await send(`${app.url}/test/query`);
    expect(query.status).toBe(503);
    expect(query.ms).toBeLessThan(QUICKLY_MS);
    expect(query.headers['retry-after']).toBe('5');
    expect(query.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });

    // The auth endpoints that need the database say so the same way.
    const authCalls = [
      send(`${app.url}/api/auth/login`, { method: 'POST', json: credentials }),
      send(`${app.url}/api/auth/refresh`, { method: 'POST', json: { refreshToken } }),
      send(`${app.url}/api/auth/me`, { headers: { Authorization: `Bearer ${accessToken}` } }),
    ];
    for (const call of await Promise.all(authCalls)) {
      expect(call.status).toBe(503);
      expect(call.ms).toBeLessThan(QUICKLY_MS);
      expect(call.body).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    }

    // Liveness checks no dependency: an orchestrator must not restart a healthy process.
    expect((await send(`${app.url}/health/live`)).status).toBe(200);
    expect(app.child.exitCode).toBeNull();

    postgres.start();

    // No restart, no operator: the connection pool reconnects by itself.
    await eventually(async () => (await send(`${app.url}/health/ready`)).status === 200, {
      what: '/health/ready back to 200',
    });
    expect((await send(`${app.url}/test/query`)).status).toBe(200);
    // The refresh token was never spent during the outage: it still works.
    const refreshed = await send(`${app.url}/api/auth/refresh`, {
      method: 'POST',
      json: { refreshToken },
    });
    expect(refreshed.status).toBe(200);
    expect(app.child.exitCode).toBeNull();
  });
});
