import jwt from 'jsonwebtoken';
import type { Express } from 'express';
import request from 'supertest';
import type { TestApp } from './test-app';
import { login, registerAccount, type Account } from './auth-client';

/**
 * A registered account promoted to admin in the database (as `pnpm admin:create` would), with
 * a fresh session: its token carries nothing about the role, the session check reads it.
 */
export async function registerAdmin(t: TestApp): Promise<Account> {
  const account = await registerAccount(t.app);
  await t.db.prisma.user.update({ where: { id: account.userId }, data: { role: 'admin' } });
  return account;
}

/** The session id of an account's tokens. */
export const sessionOf = (account: Pick<Account, 'accessToken'>) =>
  (jwt.decode(account.accessToken) as { sid: string }).sid;

export const asAdmin = (app: Express, account: Pick<Account, 'accessToken'>) => ({
  get: (path: string) =>
    request(app).get(`/api/admin${path}`).set('Authorization', `Bearer ${account.accessToken}`),
  patch: (path: string, body: object) =>
    request(app)
      .patch(`/api/admin${path}`)
      .set('Authorization', `Bearer ${account.accessToken}`)
      .send(body),
  delete: (path: string) =>
    request(app).delete(`/api/admin${path}`).set('Authorization', `Bearer ${account.accessToken}`),
});

export { login, registerAccount, type Account };
