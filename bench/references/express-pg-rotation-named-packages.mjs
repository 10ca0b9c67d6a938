// Reference: the rotation floor (express-pg-rotation.mjs) plus the per-request work of the
// packages the product is built on, as the app uses them, and nothing of the app's own: the
// refresh token verified and both successors signed with jsonwebtoken (the app's TokenService,
// from dist/), and two express-rate-limit limits (API-wide and refresh, draft-8 headers) counted
// in Redis through rate-limit-redis on ioredis (in memory without REDIS_URL). No helmet, CORS,
// request id or log, metrics, validation, outage fallback or cookie. Information, not a floor:
// its ratio to the rotation floor is the most any refresh built on these packages can reach.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import express from 'express';
import { rateLimit } from 'express-rate-limit';
import { Redis } from 'ioredis';
import pg from 'pg';
import { RedisStore } from 'rate-limit-redis';
import { rotate } from './rotation.mjs';

const require = createRequire(import.meta.url);
const { loadConfig } = require('../../dist/config/index.js');
const { TokenService, hashToken } = require('../../dist/auth/token-service.js');

const { config } = loadConfig({ envFile: false });
const tokens = new TokenService(config.jwt);
const pool = new pg.Pool({ connectionString: config.database.url, max: config.database.poolSize });
// As the app connects (src/redis/redis-client.ts): commands of one turn leave in one write.
const redis = config.redis.url
  ? new Redis(config.redis.url, { enableAutoPipelining: true, maxRetriesPerRequest: 1 })
  : undefined;
// Its own key prefix: the app's counts of the same address are not this reference's.
const prefix = `${config.redis.keyPrefix}bench-ref:${randomUUID()}:`;
const limit = (name, { limit, windowMs }) =>
  rateLimit({
    windowMs,
    limit,
    identifier: name,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    ...(redis
      ? {
          store: new RedisStore({
            prefix: `${prefix}${name}:`,
            sendCommand: (command, ...args) => redis.call(command, ...args),
          }),
        }
      : {}),
  });

const app = express();
app.get('/health', (_request, response) => {
  response.end('ok');
});
app.post(
  '/',
  limit('api', config.rateLimit.api),
  limit('refresh', config.rateLimit.refresh),
  express.json(),
  async (request, response) => {
    // No body: the load generator closed the connection while the limits counted (end of a run).
    const token = request.body?.refreshToken;
    let claims;
    try {
      claims = tokens.verifyRefreshToken(String(token));
    } catch {
      response.status(401).json({ outcome: 'invalid' });
      return;
    }
    const now = new Date();
    const session = { userId: claims.userId, sessionId: claims.sessionId };
    const successor = tokens.issueRefreshToken(session, claims.sessionExpiresAt, now);
    const accessToken = tokens.signAccessToken(session);
    const row = await rotate(pool, request, {
      current: {
        id: claims.tokenId,
        hash: hashToken(token),
        sessionId: claims.sessionId,
        userId: claims.userId,
      },
      successor: {
        id: successor.tokenId,
        hash: successor.tokenHash,
        expiresAt: successor.expiresAt,
      },
      now,
    });
    if (row.outcome !== 'rotated') {
      response.status(401).json({ outcome: row.outcome });
      return;
    }
    response.json({
      user: { id: row.id, email: row.email },
      accessToken,
      refreshToken: successor.token,
    });
  },
);
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  void pool.end();
  redis?.disconnect();
});
