import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { createTestApp, type TestApp } from '../helpers/test-app';

/**
 * The client address (`req.ip`) behind a trusted proxy comes from `X-Forwarded-For`: it is stored
 * with each session and shown by `/sessions`, keys the rate limits and is matched by the metrics
 * allowlist. Only a syntactically valid IP is taken from the header.
 */
let t: TestApp;
beforeAll(async () => {
  t = await createTestApp({ TRUST_PROXY: '1' });
});
afterAll(() => t.close());

/** Registers through a "proxy" that forwarded `forwardedFor`; returns the session's stored ip. */
async function sessionIpWhenForwardedFor(forwardedFor: string): Promise<unknown> {
  const registered = await request(t.app)
    .post('/api/auth/register')
    .set('X-Forwarded-For', forwardedFor)
    .send({ email: `ip-${randomUUID()}@example.com`, password: 'correct horse battery staple' });
  expect(registered.status).toBe(201);
  const sessions = await request(t.app)
    .get('/api/auth/sessions')
    .set('Authorization', `Bearer ${registered.body.accessToken}`);
  expect(sessions.status).toBe(200);
  return sessions.body.sessions[0].ip;
}

describe('client address behind a trusted proxy (TRUST_PROXY=1)', () => {
  it.each(['203.0.113.7', '2001:db8::7', '10.0.0.1, 203.0.113.8'])(
    'takes a valid address from X-Forwarded-For: %s',
    async (header) => {
      const expected = header.split(',').at(-1)?.trim();
      expect(await sessionIpWhenForwardedFor(header)).toBe(expected);
    },
  );

  it.each([
    '<img src=x onerror=alert(1)>',
    '203.0.113.7:4444',
    'unknown',
    '999.1.1.1',
    '10.0.0.1, not-an-ip',
  ])(
    'never stores text that is not an IP (%s): the connection address is used instead',
    async (header) => {
      const ip = await sessionIpWhenForwardedFor(header);
      // supertest connects over loopback; the address is v4, or v4-mapped v6.
      expect(ip).toMatch(/^(::ffff:)?127\.0\.0\.1$|^::1$/);
    },
  );
});
