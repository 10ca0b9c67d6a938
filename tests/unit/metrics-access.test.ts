import express from 'express';
import request from 'supertest';
import { restrictMetricsAccess } from '../../src/health/metrics-access';
import { errorHandler } from '../../src/http/error-handler';
import { installRequestContext } from '../../src/http/request-context';
import { capturedLogger } from '../helpers/captured-logger';

const TOKEN = 'metrics-token-0123456789';

/** The real middleware and error handler in front of a stand-in metrics route. */
function appWith(
  settings: { token?: string; allow?: readonly string[] },
  trustProxy = 0,
): express.Express {
  const app = express();
  app.set('trust proxy', trustProxy);
  app.use(installRequestContext(app, { logger: capturedLogger('silent').logger }));
  app.get(
    '/metrics',
    restrictMetricsAccess({ token: settings.token, allow: settings.allow }),
    (_req, res) => {
      res.send('metrics');
    },
  );
  app.use(errorHandler);
  return app;
}

describe('metrics access', () => {
  it('serves an allowed address', async () => {
    const res = await request(appWith({ allow: ['127.0.0.0/8', '::1'] })).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.text).toBe('metrics');
  });

  it('refuses any other address with 403', async () => {
    const res = await request(appWith({ allow: ['10.0.0.0/8'] })).get('/metrics');
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ code: 'FORBIDDEN' });
  });

  it("matches the client's address behind a trusted proxy, not the proxy's", async () => {
    const app = appWith({ allow: ['10.0.0.0/8'] }, 1);
    expect((await request(app).get('/metrics').set('X-Forwarded-For', '10.1.2.3')).status).toBe(
      200,
    );
    expect((await request(app).get('/metrics').set('X-Forwarded-For', '203.0.113.9')).status).toBe(
      403,
    );
  });

  it('ignores X-Forwarded-For from a client when no proxy is trusted', async () => {
    const app = appWith({ allow: ['10.0.0.0/8'] });
    expect((await request(app).get('/metrics').set('X-Forwarded-For', '10.1.2.3')).status).toBe(
      403,
    );
  });

  it('requires the bearer token when one is configured, with a 401 that says how', async () => {
    const app = appWith({ token: TOKEN });
    const missing = await request(app).get('/metrics');
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Bearer realm="metrics"');
    expect(missing.body).toMatchObject({ code: 'UNAUTHORIZED' });
    const wrong = await request(app).get('/metrics').set('Authorization', `Bearer ${TOKEN}x`);
    expect(wrong.status).toBe(401);
    const right = await request(app).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
    expect(right.status).toBe(200);
  });

  it('requires both when both are configured: the right token from the wrong address is refused', async () => {
    const outside = appWith({ token: TOKEN, allow: ['10.0.0.0/8'] });
    const res = await request(outside).get('/metrics').set('Authorization', `Bearer ${TOKEN}`);
    expect(res.status).toBe(403);
    const inside = appWith({ token: TOKEN, allow: ['127.0.0.0/8', '::1'] });
    expect((await request(inside).get('/metrics')).status).toBe(401);
    expect(
      (await request(inside).get('/metrics').set('Authorization', `Bearer ${TOKEN}`)).status,
    ).toBe(200);
  });
});
