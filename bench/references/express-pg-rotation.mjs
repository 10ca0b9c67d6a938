// Reference: bare Express 5 plus the one statement that rotates a refresh token (the app's own
// CTE, from dist/auth/auth.sql.js) sent as a node-postgres named prepared statement, and nothing
// else: no signature check and no signing (the token's claims are read, not verified; the
// successor is the claims re-encoded), no limiter, no cookie. The floor of a rotation on this
// machine: `POST /api/auth/refresh` is judged against it.
import { createHash, randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import express from 'express';
import pg from 'pg';

const require = createRequire(import.meta.url);
const { auditEventParams, rotateRefreshToken } = require('../../dist/auth/auth.sql.js');

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const sha256 = (text) => createHash('sha256').update(text).digest('hex');
const claimsOf = (token) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
const refreshTtlMs = 7 * 24 * 3600 * 1000;

const app = express();
app.get('/health', (_request, response) => {
  response.end('ok');
});
app.use(express.json());
app.post('/', async (request, response) => {
  const token = request.body.refreshToken;
  const claims = claimsOf(token);
  const now = new Date();
  const next = { ...claims, jti: randomUUID() };
  const successor = `x.${Buffer.from(JSON.stringify(next)).toString('base64url')}.x`;
  const expiresAt = new Date(Math.min(now.getTime() + refreshTtlMs, claims.sexp * 1000));
  const { rows } = await pool.query({
    ...rotateRefreshToken,
    values: [
      claims.jti,
      sha256(token),
      claims.sid,
      claims.sub,
      now,
      next.jti,
      sha256(successor),
      expiresAt,
      // The reuse event the app passes with auditing on (written only on a reuse): same statement.
      ...auditEventParams({
        id: randomUUID(),
        type: 'refresh.reuse_detected',
        actorUserId: null,
        request: {
          ip: request.ip ?? null,
          userAgent: request.get('user-agent') ?? null,
          requestId: null,
        },
      }),
    ],
  });
  if (rows[0].outcome !== 'rotated') {
    response.status(401).json({ outcome: rows[0].outcome });
    return;
  }
  response.json({ user: { id: rows[0].id, email: rows[0].email }, refreshToken: successor });
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  void pool.end();
});
