import request from 'supertest';
import { z } from 'zod';
import { createApp } from '../../src/app';
import { CommonErrorCode, DomainError } from '../../src/errors/domain-error';
import type { ReplyViolation } from '../../src/http/reply-check';
import { defineRoute, fullPath, type Feature } from '../../src/http/route';
import { createTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp();
});
afterAll(() => t.close());

/** `METHOD /path/{param}` of every route the features' tables define. */
const declared = (features: readonly Feature[]) =>
  features.flatMap((feature) =>
    feature.routes.map(
      (route) =>
        `${route.method.toUpperCase()} ${fullPath(feature, route).replace(/:(\w+)/g, '{$1}')}`,
    ),
  );

describe('route tables', () => {
  it('are what the OpenAPI document lists: every route, and nothing else', async () => {
    const res = await request(t.app).get('/docs/openapi.json');
    const documented = Object.entries(
      res.body.paths as Record<string, Record<string, unknown>>,
    ).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(documented.sort()).toEqual(declared(t.root.features).sort());
    // Sanity: the auth feature (nine routes) and the account feature (seven) are there.
    expect(documented).toHaveLength(16);
  });

  it('are all mounted: each route answers, none is an unknown route', async () => {
    for (const feature of t.root.features) {
      for (const route of feature.routes) {
        const path = fullPath(feature, route).replace(
          /:(\w+)/g,
          '00000000-0000-4000-8000-000000000000',
        );
        const res = await request(t.app)[route.method](path);
        expect({ route: `${route.method} ${path}`, code: res.body.code }).not.toEqual({
          route: `${route.method} ${path}`,
          code: 'ROUTE_NOT_FOUND',
        });
      }
    }
  });

  it('document each error status with the codes the route can answer with', async () => {
    const res = await request(t.app).get('/docs/openapi.json');
    const login = res.body.paths['/api/auth/login'].post.responses;
    expect(login['401'].description).toContain('`INVALID_CREDENTIALS`');
    expect(login['400'].description).toContain('`VALIDATION_FAILED`');
    expect(login['429']).toEqual({ $ref: '#/components/responses/TooManyRequests' });
    const me = res.body.paths['/api/auth/me'].get.responses;
    for (const code of ['AUTH_REQUIRED', 'TOKEN_INVALID', 'TOKEN_EXPIRED', 'ACCOUNT_NOT_FOUND'])
      expect(me['401'].description).toContain(`\`${code}\``);
    const revoke = res.body.paths['/api/auth/sessions/{id}'].delete;
    expect(revoke.parameters).toEqual([
      expect.objectContaining({ name: 'id', in: 'path', required: true }),
    ]);
    expect(revoke.responses['404'].description).toContain('`SESSION_NOT_FOUND`');
  });
});

describe('reply checks (what the integration tier runs on every API reply)', () => {
  /** A feature whose replies drift from what it declares, in each way a reply can drift. */
  const drifting: Feature = {
    name: 'drift',
    description: 'Replies that do not match their declarations',
    basePath: '/drift',
    routes: [
      defineRoute({
        method: 'get',
        path: '/extra-field',
        summary: 'A field the schema does not have',
        auth: 'none',
        responses: { 200: { description: 'ok', body: z.strictObject({ id: z.string() }) } },
        errors: [],
      }).handle(() => ({ status: 200, body: { id: 'a', passwordHash: 'x' } as { id: string } })),
      defineRoute({
        method: 'get',
        path: '/undeclared-status',
        summary: 'A status it does not declare',
        auth: 'none',
        responses: { 200: { description: 'ok' } },
        errors: [],
      }).handle(() => ({ status: 202 }) as unknown as { status: 200 }),
      defineRoute({
        method: 'get',
        path: '/undeclared-code',
        summary: 'An error code it does not declare',
        auth: 'none',
        responses: { 204: { description: 'ok' } },
        errors: [],
      }).handle(() => {
        throw new DomainError(CommonErrorCode.CONFLICT, 'not declared');
      }),
      defineRoute({
        method: 'get',
        path: '/bug',
        summary: 'A bug: 500',
        auth: 'none',
        responses: { 204: { description: 'ok' } },
        errors: [],
      }).handle(() => {
        throw new TypeError('a bug');
      }),
      defineRoute({
        method: 'get',
        path: '/fine',
        summary: 'As declared',
        auth: 'none',
        responses: { 200: { description: 'ok', body: z.strictObject({ id: z.string() }) } },
        errors: [CommonErrorCode.CONFLICT],
      }).handle(() => ({ status: 200, body: { id: 'a' } })),
    ],
  };

  it('reports each drifting reply, and nothing for a reply as declared', async () => {
    const violations: ReplyViolation[] = [];
    const app = createApp(
      { ...t.root, features: [drifting] },
      { onReplyViolation: (violation) => violations.push(violation) },
    );
    for (const path of ['extra-field', 'undeclared-status', 'undeclared-code', 'bug', 'fine'])
      await request(app).get(`/api/drift/${path}`);
    expect(violations).toEqual([
      {
        route: 'GET /api/drift/extra-field',
        status: 200,
        problem: expect.stringContaining('passwordHash'),
      },
      {
        route: 'GET /api/drift/undeclared-status',
        status: 202,
        problem: 'status 202 is not among the declared responses',
      },
      {
        route: 'GET /api/drift/undeclared-code',
        status: 409,
        problem: "code CONFLICT is not among the route's error codes",
      },
      {
        route: 'GET /api/drift/bug',
        status: 500,
        problem: "code INTERNAL_ERROR is not among the route's error codes",
      },
    ]);
  });
});
