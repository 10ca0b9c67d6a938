// The rotation both rotation references send: the app's own statement (dist/auth/auth.sql.js) as
// a node-postgres named prepared statement, with the reuse event the app passes when auditing is
// on (written only on a reuse).
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { auditEventParams, rotateRefreshToken } = require('../../dist/auth/auth.sql.js');

/**
 * Spends `current` and stores `successor` for the request; resolves with the statement's row
 * (its `outcome`, and the user when it rotated).
 */
export async function rotate(pool, request, { current, successor, now }) {
  const { rows } = await pool.query({
    ...rotateRefreshToken,
    values: [
      current.id,
      current.hash,
      current.sessionId,
      current.userId,
      now,
      successor.id,
      successor.hash,
      successor.expiresAt,
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
  return rows[0];
}
