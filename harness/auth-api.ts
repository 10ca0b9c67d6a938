import { randomBytes } from 'node:crypto';
import { requestJson } from './http-client';

/** The password of every account the harness registers. */
export const PASSWORD = 'correct horse battery staple';

/** An account signed in through the API: what a client keeps. */
export interface Account {
  email: string;
  userId: string;
  accessToken: string;
  refreshToken: string;
}

interface SignedIn {
  user: { id: string };
  accessToken: string;
  refreshToken: string;
}

const toAccount = (email: string, reply: SignedIn): Account => ({
  email,
  userId: reply.user.id,
  accessToken: reply.accessToken,
  refreshToken: reply.refreshToken,
});

/**
 * Registers an account through `baseUrl` (a server, or nginx in front of replicas); the email
 * defaults to a fresh `<label>-<random>@example.com`. Rejects on anything but 201.
 */
export async function register(
  baseUrl: string,
  { email, name, label = 'user' }: { email?: string; name?: string; label?: string } = {},
): Promise<Account> {
  const address = email ?? `${label}-${randomBytes(6).toString('hex')}@example.com`;
  const reply = await requestJson<SignedIn>(`${baseUrl}/api/auth/register`, {
    method: 'POST',
    json: { email: address, password: PASSWORD, ...(name ? { name } : {}) },
    timeoutMs: 30_000,
  });
  return toAccount(address, reply);
}

/** Signs in again: a new session, with refresh token of its own. Rejects on anything but 200. */
export async function login(baseUrl: string, email: string): Promise<Account> {
  const reply = await requestJson<SignedIn>(`${baseUrl}/api/auth/login`, {
    method: 'POST',
    json: { email, password: PASSWORD },
    timeoutMs: 30_000,
  });
  return toAccount(email, reply);
}
