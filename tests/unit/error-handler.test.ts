import { Writable } from 'node:stream';
import express from 'express';
import request from 'supertest';
import { z } from 'zod';
import { DomainError } from '../../src/errors/domain-error';
import { errorHandler, notFoundHandler } from '../../src/http/error-handler';
import { installRequestContext } from '../../src/http/request-context';
import { parseInput } from '../../src/http/validation';
import { createLogger } from '../../src/logger';

/** A minimal app with the real request context and error handler around throwing routes. */
function appWith(route: express.RequestHandler) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(
        ...chunk
          .toString()
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line) as Record<string, unknown>),
      );
      callback();
    },
  });
  const logger = createLogger({ level: 'info', instanceId: 'test', destination });
  const app = express();
  app.use(installRequestContext(app, { logger }));
  app.use(express.json());
  app.post('/thing', route);
  app.use(notFoundHandler);
  app.use(errorHandler);
  return { app, lines };
}

describe('error handler', () => {
  it('turns an unexpected error into a bare 500 and logs its stack', async () => {
    const { app, lines } = appWith(() => {
      throw new Error('connection string postgresql://admin:hunter2@db leaked');
    });
    const res = await request(app).post('/thing');
    expect(res.status).toBe(500);
    expect(res.body).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'An unexpected error occurred',
      code: 'INTERNAL_ERROR',
      requestId: res.headers['x-request-id'],
      instance: '/thing',
    });
    expect(res.text).not.toContain('hunter2');
    const logged = lines.find((line) => line.msg === 'unhandled error');
    expect(logged?.reqId).toBe(res.headers['x-request-id']);
    expect(JSON.stringify(logged?.err)).toContain('hunter2');
  });

  it('answers a rejected promise from an async handler the same way (Express 5)', async () => {
    const { app } = appWith(async () => {
      await Promise.resolve();
      throw new TypeError('boom');
    });
    const res = await request(app).post('/thing');
    expect(res.status).toBe(500);
    expect(res.body.code).toBe('INTERNAL_ERROR');
  });

  it.each([
    ['EMAIL_TAKEN', 409, 'Conflict', {}],
    ['RATE_LIMITED', 429, 'Too Many Requests', {}],
    ['SERVICE_UNAVAILABLE', 503, 'Service Unavailable', { 'retry-after': '5' }],
    ['FORBIDDEN', 403, 'Forbidden', {}],
    ['SESSION_NOT_FOUND', 404, 'Not Found', {}],
  ])(
    'sends a DomainError %s with the status, title and headers the error table gives it',
    async (code, status, title, headers) => {
      const { app } = appWith(() => {
        throw new DomainError(code, 'Explained for the client');
      });
      const res = await request(app).post('/thing');
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ status, code, title, detail: 'Explained for the client' });
      for (const [name, value] of Object.entries(headers)) expect(res.headers[name]).toBe(value);
    },
  );

  it('answers a code missing from the error table with a bare 500, and logs the bug', async () => {
    const { app, lines } = appWith(() => {
      throw new DomainError('NOT_IN_THE_TABLE', 'whatever');
    });
    const res = await request(app).post('/thing');
    expect(res.status).toBe(500);
    expect(res.body).toMatchObject({
      code: 'INTERNAL_ERROR',
      detail: 'An unexpected error occurred',
    });
    expect(lines).toContainEqual(
      expect.objectContaining({ msg: expect.stringContaining('NOT_IN_THE_TABLE has no status') }),
    );
  });

  it.each([
    [
      'a URIError the router marks 400 (a bad percent-escape)',
      Object.assign(new URIError("Failed to decode param '%ZZ'"), { status: 400, statusCode: 400 }),
      400,
      'MALFORMED_PATH',
    ],
    [
      'any other error marked with a 4xx status',
      Object.assign(new Error('incorrect header check'), { status: 400, expose: true }),
      400,
      'BAD_REQUEST',
    ],
    [
      'an error marked with a 4xx statusCode only',
      Object.assign(new Error('too big'), { statusCode: 413 }),
      413,
      'PAYLOAD_TOO_LARGE',
    ],
    [
      'an error marked 415',
      Object.assign(new Error('nope'), { status: 415 }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ],
  ])('answers %s as a client error, logged below error level', async (_case, err, status, code) => {
    const { app, lines } = appWith(() => {
      throw err;
    });
    const res = await request(app).post('/thing');
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject({ status, code });
    expect(res.text).not.toContain((err as Error).message);
    expect(lines.filter((line) => line.level === 'error')).toEqual([]);
  });

  it('still answers an error marked with a 5xx status as a bare 500, logged as an error', async () => {
    const { app, lines } = appWith(() => {
      throw Object.assign(new Error('upstream broke'), { status: 502 });
    });
    const res = await request(app).post('/thing');
    expect(res.status).toBe(500);
    expect(lines.some((line) => line.level === 'error')).toBe(true);
  });

  it('lists every invalid field of a validation failure', async () => {
    const schema = z.strictObject({ email: z.email(), age: z.number().int().min(18) });
    const { app } = appWith((req, res) => {
      res.json(parseInput(schema, req.body));
    });
    const res = await request(app).post('/thing').send({ email: 'nope', age: 12, extra: true });
    expect(res.status).toBe(400);
    expect(res.body.code).toBe('VALIDATION_FAILED');
    expect(res.body.errors).toEqual(
      expect.arrayContaining([
        { field: 'email', message: expect.any(String) },
        { field: 'age', message: expect.any(String) },
        { field: '', message: expect.stringContaining('extra') },
      ]),
    );
  });

  it('passes valid input through parseInput typed and unchanged', async () => {
    const schema = z.strictObject({ email: z.email() });
    const { app } = appWith((req, res) => {
      res.json(parseInput(schema, req.body));
    });
    const res = await request(app).post('/thing').send({ email: 'a@example.com' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ email: 'a@example.com' });
  });
});
