import { deflateSync, gzipSync } from 'node:zlib';
import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app';

let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ FRONTEND_URL: 'https://app.example.com', BODY_LIMIT: '100kb' });
});
afterAll(() => t.close());

function expectProblem(res: request.Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.headers['cache-control']).toBe('no-store');
  expect(res.body).toMatchObject({
    type: 'about:blank',
    status,
    code,
    requestId: res.headers['x-request-id'],
  });
  expect(typeof res.body.title).toBe('string');
  expect(typeof res.body.detail).toBe('string');
  expect(JSON.stringify(res.body)).not.toMatch(/\bat .+:\d+:\d+/); // no stack frames
}

describe('bad input on a JSON route', () => {
  it('answers malformed JSON with 400 MALFORMED_JSON, not 500', async () => {
    const res = await request(t.app)
      .post('/api/auth/login')
      .set('Content-Type', 'application/json')
      .send('{"email": ');
    expectProblem(res, 400, 'MALFORMED_JSON');
    expect(res.body.instance).toBe('/api/auth/login');
  });

  it('answers a 2 MB body with 413 PAYLOAD_TOO_LARGE', async () => {
    const body = JSON.stringify({ blob: 'x'.repeat(2 * 1024 * 1024) });
    const res = await request(t.app)
      .post('/api/auth/login')
      .set('Content-Type', 'application/json')
      .send(body);
    expectProblem(res, 413, 'PAYLOAD_TOO_LARGE');
  });

  it('answers a text/plain body with 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    const res = await request(t.app)
      .post('/api/auth/login')
      .set('Content-Type', 'text/plain')
      .send('email=a@b.c');
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('answers an unsupported charset with 415', async () => {
    const res = await request(t.app)
      .post('/api/auth/login')
      .set('Content-Type', 'application/json; charset=klingon')
      .send('{}');
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });

  it('lets a bodiless POST through to routing', async () => {
    const res = await request(t.app).post('/api/anything');
    expectProblem(res, 404, 'ROUTE_NOT_FOUND');
  });

  it('never reads the body of a request no route takes: 404, whatever it holds', async () => {
    const res = await request(t.app)
      .post('/api/anything')
      .set('Content-Type', 'application/json')
      .send('{"email": ');
    expectProblem(res, 404, 'ROUTE_NOT_FOUND');
  });

  it('answers an unknown route with 404 ROUTE_NOT_FOUND naming the route', async () => {
    const res = await request(t.app).get('/nope?token=query-token-value');
    expectProblem(res, 404, 'ROUTE_NOT_FOUND');
    expect(res.body.detail).toBe('No route for GET /nope');
    expect(res.body.instance).toBe('/nope');
  });
});

describe('client errors the router or body parser finds', () => {
  // supertest would serialise a Buffer sent as application/json: send the bytes as they are.
  const raw = (body: unknown) => body as string;
  const errorLines = () =>
    t.logs.filter((line) => line.level === 'error' || line.level === 'fatal');

  it('answers a bad percent-escape in a path with 400 MALFORMED_PATH, logged below error', async () => {
    const before = errorLines().length;
    const res = await request(t.app).delete('/api/auth/sessions/%ZZ');
    expectProblem(res, 400, 'MALFORMED_PATH');
    expect(errorLines()).toHaveLength(before);
  });

  it.each([
    ['gzip', Buffer.from('not gzip at all')],
    ['deflate', Buffer.from('not deflate either')],
    ['br', Buffer.from('\xff\xff\xff\xff not brotli')],
    ['gzip', gzipSync('{"email": "a@b.c"}').subarray(0, 12)], // cut short
  ])(
    'answers a corrupt %s JSON body with 400 MALFORMED_BODY, logged below error',
    async (encoding, body) => {
      const before = errorLines().length;
      const res = await request(t.app)
        .post('/api/auth/login')
        .set('Content-Type', 'application/json')
        .set('Content-Encoding', encoding)
        .serialize(raw)
        .send(body);
      expectProblem(res, 400, 'MALFORMED_BODY');
      expect(errorLines()).toHaveLength(before);
    },
  );

  it('still reads a well-formed compressed JSON body', async () => {
    const res = await request(t.app)
      .post('/api/auth/login')
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'deflate')
      .serialize(raw)
      .send(deflateSync(JSON.stringify({ email: 'nobody@example.com', password: 'whatever' })));
    expectProblem(res, 401, 'INVALID_CREDENTIALS');
  });

  it('answers an unsupported content encoding with 415', async () => {
    const res = await request(t.app)
      .post('/api/auth/login')
      .set('Content-Type', 'application/json')
      .set('Content-Encoding', 'compress')
      .send('{}');
    expectProblem(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
  });
});

describe('request ids', () => {
  it('echoes a well-formed incoming X-Request-Id and uses it in the problem document', async () => {
    const res = await request(t.app)
      .get('/nope')
      .set('X-Request-Id', 'a1b2c3d4e5f60718293a4b5c6d7e8f90');
    expect(res.headers['x-request-id']).toBe('a1b2c3d4e5f60718293a4b5c6d7e8f90');
    expect(res.body.requestId).toBe('a1b2c3d4e5f60718293a4b5c6d7e8f90');
  });

  it.each([
    ['spaces', 'bad id with spaces'],
    ['over 128 characters', 'x'.repeat(129)],
    ['quotes', '"><script>'],
  ])('replaces an X-Request-Id with %s by a generated one', async (_case, id) => {
    const res = await request(t.app).get('/nope').set('X-Request-Id', id);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('generates a different id for each request', async () => {
    const [a, b] = await Promise.all([request(t.app).get('/nope'), request(t.app).get('/nope')]);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  it('logs one line per request with method, path, status, duration and the request id', async () => {
    const res = await request(t.app)
      .get('/nope?token=query-token-value')
      .set('X-Request-Id', 'trace-42');
    const line = t.logs.find((entry) => entry.reqId === 'trace-42' && entry.msg === 'request');
    expect(line).toMatchObject({
      method: 'GET',
      path: '/nope',
      status: 404,
      code: 'ROUTE_NOT_FOUND',
      instanceId: t.config.instanceId,
    });
    expect(typeof line?.ms).toBe('number');
    expect(JSON.stringify(t.logs)).not.toContain('query-token-value');
    expect(res.status).toBe(404);
  });
});

describe('security headers and CORS', () => {
  it('sends helmet headers and no X-Powered-By', async () => {
    const res = await request(t.app).get('/nope');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['strict-transport-security']).toMatch(/max-age=/);
    // A JSON reply loads nothing and is never framed: the policy says so, and nothing more.
    expect(res.headers['content-security-policy']).toBe(
      "default-src 'none';frame-ancestors 'none'",
    );
  });

  it('allows a listed origin with credentials', async () => {
    const res = await request(t.app)
      .options('/api/anything')
      .set('Origin', 'https://app.example.com')
      .set('Access-Control-Request-Method', 'POST');
    expect(res.status).toBe(204);
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com');
    expect(res.headers['access-control-allow-credentials']).toBe('true');
  });

  it('gives an unlisted origin no CORS grant', async () => {
    const res = await request(t.app).get('/nope').set('Origin', 'https://evil.example.com');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });
});
