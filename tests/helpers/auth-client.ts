import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';

export interface Account {
  email: string;
  password: string;
  userId: string;
  accessToken: string;
  refreshToken: string;
}

/** Registers a fresh account through the API and returns its credentials and tokens. */
export async function registerAccount(
  app: Express,
  overrides: { email?: string; password?: string; name?: string } = {},
): Promise<Account> {
  const email = overrides.email ?? `user-${randomUUID()}@example.com`;
  const password = overrides.password ?? 'correct horse battery staple';
  const res = await request(app)
    .post('/api/auth/register')
    .send({ email, password, ...(overrides.name ? { name: overrides.name } : {}) });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${res.text}`);
  return {
    email,
    password,
    userId: res.body.user.id,
    accessToken: res.body.accessToken,
    refreshToken: res.body.refreshToken,
  };
}

/** Logs in again (a second session of the same account). */
export async function login(
  app: Express,
  account: Pick<Account, 'email' | 'password'>,
  userAgent = 'test-agent',
): Promise<Account> {
  const res = await request(app)
    .post('/api/auth/login')
    .set('User-Agent', userAgent)
    .send({ email: account.email, password: account.password });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
  return {
    ...account,
    userId: res.body.user.id,
    accessToken: res.body.accessToken,
    refreshToken: res.body.refreshToken,
  };
}

export const refresh = (app: Express, refreshToken: string) =>
  request(app).post('/api/auth/refresh').send({ refreshToken });
export const me = (app: Express, accessToken: string) =>
  request(app).get('/api/auth/me').set('Authorization', `Bearer ${accessToken}`);
