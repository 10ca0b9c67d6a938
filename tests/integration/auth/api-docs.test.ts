import request from 'supertest';
import { createTestApp, type TestApp } from '../../helpers/test-app';

describe('API documentation', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('serves an OpenAPI 3.1 document generated from the validation schemas', async () => {
    const res = await request(t.app).get('/docs/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(
      Object.keys(res.body.paths)
        .filter((path) => path.startsWith('/api/auth/'))
        .sort(),
    ).toEqual(
      [
        '/api/auth/change-password',
        '/api/auth/login',
        '/api/auth/logout',
        '/api/auth/logout-all',
        '/api/auth/me',
        '/api/auth/me/activity',
        '/api/auth/refresh',
        '/api/auth/register',
        '/api/auth/sessions',
        '/api/auth/sessions/{id}',
        '/api/auth/verify-email',
        '/api/auth/verify-email/resend',
        '/api/auth/password/forgot',
        '/api/auth/password/reset',
        '/api/auth/email/change',
        '/api/auth/email/confirm',
      ].sort(),
    );
    const register =
      res.body.paths['/api/auth/register'].post.requestBody.content['application/json'].schema;
    expect(register).toMatchObject({
      type: 'object',
      required: ['email', 'password'],
      additionalProperties: false,
      properties: {
        email: { type: 'string', format: 'email' },
        password: { type: 'string', minLength: 8 },
      },
    });
    expect(res.body.paths['/api/auth/me'].get.security).toEqual([{ bearerAuth: [] }]);
  });

  it('serves Swagger UI at /docs', async () => {
    const res = await request(t.app).get('/docs/');
    expect(res.status).toBe(200);
    expect(res.text).toContain('swagger-ui');
    // The page's scripts and styles come from this origin: helmet's HTML policy, not the API's
    // `default-src 'none'`, which would leave it blank.
    const policy = res.headers['content-security-policy'];
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("frame-ancestors 'self'");
    expect(policy).not.toContain("default-src 'none'");
  });

  it('can be switched off by config', async () => {
    const off = await createTestApp({ API_DOCS_ENABLED: 'false' });
    try {
      expect((await request(off.app).get('/docs/openapi.json')).status).toBe(404);
    } finally {
      await off.close();
    }
  });
});
