import net from 'node:net';
import { Writable } from 'node:stream';
import { PGlite } from '@electric-sql/pglite';
import { PrismaPg } from '@prisma/adapter-pg';
import express from 'express';
import request from 'supertest';
import { PrismaClient } from '../../src/db/database';
import { isDatabaseUnavailableError } from '../../src/db/database-errors';
import { PGliteAdapterFactory } from '../../src/db/embedded-database';
import { errorHandler } from '../../src/http/error-handler';
import { installRequestContext } from '../../src/http/request-context';
import { createLogger } from '../../src/logger';
import { freePort } from '../../harness/ports';

// Every error here comes from a real Prisma client failing for real: the predicate must follow
// what Prisma actually throws, which changes between versions, not what a mock says it throws.

/** Runs `query` and returns what it threw. */
async function failureOf(query: () => Promise<unknown>): Promise<unknown> {
  try {
    await query();
  } catch (error) {
    return error;
  }
  throw new Error('expected the query to fail');
}

function clientFor(url: string): PrismaClient {
  return new PrismaClient({
    adapter: new PrismaPg({ connectionString: url, connectionTimeoutMillis: 300 }),
  });
}

describe('isDatabaseUnavailableError', () => {
  describe('PostgreSQL through @prisma/adapter-pg', () => {
    let prisma: PrismaClient;
    beforeAll(async () => {
      // Nothing listens on a port that was free a moment ago: connections are refused.
      prisma = clientFor(`postgresql://app@127.0.0.1:${await freePort()}/app`);
    });
    afterAll(() => prisma.$disconnect());

    it('recognises a refused connection from a raw query', async () => {
      const error = await failureOf(() => prisma.$queryRaw`SELECT 1`);
      expect(isDatabaseUnavailableError(error)).toBe(true);
    });

    it('recognises a refused connection from a transaction', async () => {
      const error = await failureOf(() => prisma.$transaction((tx) => tx.$queryRaw`SELECT 1`));
      expect(isDatabaseUnavailableError(error)).toBe(true);
    });
  });

  it('recognises a server that accepts connections but never answers (connect timeout)', async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const prisma = clientFor(`postgresql://app@127.0.0.1:${port}/app`);
    try {
      const error = await failureOf(() => prisma.$queryRaw`SELECT 1`);
      expect(isDatabaseUnavailableError(error)).toBe(true);
    } finally {
      await prisma.$disconnect();
      silent.close();
    }
  });

  describe('the embedded database (PGlite)', () => {
    // One database for both cases (opening one takes seconds): the query bug first, then closed.
    let pglite: PGlite;
    let prisma: PrismaClient;
    beforeAll(async () => {
      pglite = new PGlite();
      await pglite.waitReady;
      prisma = new PrismaClient({ adapter: new PGliteAdapterFactory(pglite) });
    });
    afterAll(async () => {
      await prisma.$disconnect();
      if (!pglite.closed) await pglite.close();
    });

    it('does not mistake a broken query for an outage: that is a bug, a 500', async () => {
      const error = await failureOf(() => prisma.$queryRawUnsafe('SELEC 1'));
      expect(isDatabaseUnavailableError(error)).toBe(false);
    });

    it('recognises a closed database', async () => {
      await pglite.close();
      const error = await failureOf(() => prisma.$queryRaw`SELECT 1`);
      expect(isDatabaseUnavailableError(error)).toBe(true);
    });
  });

  it.each([undefined, null, 'ECONNREFUSED', new Error('boom'), new TypeError('x is undefined')])(
    'leaves anything else alone (%p)',
    (value) => {
      expect(isDatabaseUnavailableError(value)).toBe(false);
    },
  );
});

describe('the error handler, when the database is down', () => {
  let prisma: PrismaClient;
  let app: express.Express;
  beforeAll(async () => {
    prisma = clientFor(`postgresql://app@127.0.0.1:${await freePort()}/app`);
    const logger = createLogger({
      level: 'silent',
      instanceId: 'test',
      destination: new Writable({ write: (_chunk, _encoding, callback) => callback() }),
    });
    app = express();
    app.use(installRequestContext(app, { logger }));
    // A route like any other: it queries and lets errors propagate, with no try/catch.
    app.get('/users', async (_req, res) => {
      res.json(await prisma.$queryRaw`SELECT 1`);
    });
    app.use(errorHandler);
  });
  afterAll(() => prisma.$disconnect());

  it('answers 503 SERVICE_UNAVAILABLE with Retry-After, not a 500', async () => {
    const res = await request(app).get('/users');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({
      status: 503,
      code: 'SERVICE_UNAVAILABLE',
      detail: 'The database is unavailable; try again shortly',
    });
    // The connection details stay in the log, never in the reply.
    expect(res.text).not.toContain('127.0.0.1');
  });
});
