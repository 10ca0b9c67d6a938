// Reference: bare Express 5 plus the one statement that rotates a refresh token (the app's own
// CTE, from dist/auth/auth.sql.js) sent as a node-postgres named prepared statement, and nothing
// else: no signature check and no signing (the token's claims are read, not verified; the
// successor is the claims re-encoded), no limiter, no cookie. The floor of a rotation on this
// machine: `POST /api/auth/refresh` is judged against it.
import { createHash, randomUUID } from 'node:crypto';
import express from 'express';
import pg from 'pg';
import { rotate } from './rotation.mjs';

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
  const row = await rotate(pool, request, {
    current: { id: claims.jti, hash: sha256(token), sessionId: claims.sid, userId: claims.sub },
    successor: { id: next.jti, hash: sha256(successor), expiresAt },
    now,
  });
  if (row.outcome !== 'rotated') {
    response.status(401).json({ outcome: row.outcome });
    return;
  }
  response.json({ user: { id: row.id, email: row.email }, refreshToken: successor });
});
const server = app.listen(Number(process.env.PORT), '127.0.0.1');
process.once('SIGTERM', () => {
  server.close();
  void pool.end();
});
