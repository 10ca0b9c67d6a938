import request from 'supertest';
import { fullPath, type Feature, type Route } from '../../../src/http/route';
import { login, registerAccount, registerAdmin, sessionOf } from '../../helpers/admin-client';
import { createTestApp, type TestApp } from '../../helpers/test-app';

// Every route of every feature mounted under /api/admin, whichever table declares it: a new
// admin route without a permission, or one a plain user can reach, fails here.

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

const adminRoutes = (features: readonly Feature[]) =>
  features
    .filter((feature) => feature.basePath === '/admin' || feature.basePath.startsWith('/admin/'))
    .flatMap((feature) => feature.routes.map((route) => ({ feature, route })));

const name = ({ feature, route }: { feature: Feature; route: Route }) =>
  `${route.method.toUpperCase()} ${fullPath(feature, route)}`;

/** A body an admin may send to a route that needs one; add an entry for a new such route. */
const EXAMPLE_BODIES: Record<string, object> = {
  'PATCH /api/admin/users/:id': { role: 'user' },
};

describe('the authorization matrix of /api/admin', () => {
  it('covers the admin API (a feature under /admin is composed)', () => {
    expect(adminRoutes(t.root.features).map(name)).toEqual(
      expect.arrayContaining([
        'GET /api/admin/users',
        'GET /api/admin/users/:id',
        'PATCH /api/admin/users/:id',
        'DELETE /api/admin/users/:id',
        'DELETE /api/admin/users/:id/sessions',
        'DELETE /api/admin/users/:id/sessions/:sessionId',
        // The audit log's own route table, sharing the /admin base path.
        'GET /api/admin/audit',
      ]),
    );
  });

  it('declares a permission and bearer authentication on every admin route', () => {
    const unguarded = adminRoutes(t.root.features)
      .filter(({ route }) => route.auth !== 'bearer' || !route.permission)
      .map(name);
    expect(unguarded).toEqual([]);
  });

  it('answers 401 without a token, 403 PERMISSION_DENIED to a user, and serves an admin', async () => {
    const admin = await registerAdmin(t);
    const user = await registerAccount(t.app);
    for (const entry of adminRoutes(t.root.features)) {
      const { route } = entry;
      // A fresh subject for each route: a delete or revoke finds something to act on.
      const subject = await registerAccount(t.app);
      const second = await login(t.app, subject);
      const values: Record<string, string> = {
        id: subject.userId,
        sessionId: sessionOf(second),
      };
      const path = fullPath(entry.feature, route).replace(/:(\w+)/g, (_, param: string) => {
        const value = values[param];
        if (!value) throw new Error(`${name(entry)}: add a value for :${param} to this test`);
        return value;
      });
      const body = EXAMPLE_BODIES[name(entry)];
      const send = (token?: string) => {
        let req = request(t.app)[route.method](path);
        if (token) req = req.set('Authorization', `Bearer ${token}`);
        return body ? req.send(body) : req;
      };

      const anonymous = await send();
      expect({ route: name(entry), status: anonymous.status, code: anonymous.body.code }).toEqual({
        route: name(entry),
        status: 401,
        code: 'AUTH_REQUIRED',
      });
      const asUser = await send(user.accessToken);
      expect({ route: name(entry), status: asUser.status, code: asUser.body.code }).toEqual({
        route: name(entry),
        status: 403,
        code: 'PERMISSION_DENIED',
      });
      const asAdmin = await send(admin.accessToken);
      expect({ route: name(entry), ok: asAdmin.status < 300, body: asAdmin.body }).toEqual({
        route: name(entry),
        ok: true,
        body: expect.anything(),
      });
    }
  });

  it('lists each admin route with its permission in the OpenAPI document', async () => {
    const res = await request(t.app).get('/docs/openapi.json');
    for (const { feature, route } of adminRoutes(t.root.features)) {
      const path = fullPath(feature, route).replace(/:(\w+)/g, '{$1}');
      const operation = res.body.paths[path][route.method];
      expect(operation['x-permission']).toBe(route.permission);
      expect(operation.responses['403'].description).toContain('`PERMISSION_DENIED`');
    }
  });
});
