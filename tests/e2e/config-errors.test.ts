import { startApp } from '../helpers/built-app';

const STRONG_A = 'k3Jx9'.repeat(10);
const STRONG_B = 'Qp7Lm'.repeat(10);
const production = {
  NODE_ENV: 'production',
  DATABASE_URL: 'postgresql://app@127.0.0.1:1/app',
  APP_PUBLIC_URL: 'https://app.example.com',
  JWT_ACCESS_SECRET: STRONG_A,
  JWT_REFRESH_SECRET: STRONG_B,
  SMTP_URL: 'smtp://127.0.0.1:1',
  MAIL_FROM: 'Example <no-reply@example.com>',
};

async function startFailing(env: Record<string, string>) {
  const app = await startApp({ env, waitFor: false });
  const code = await app.exited;
  return { code, lines: app.output().trim().split('\n') };
}

describe('the server refuses an unsafe production configuration', () => {
  it('exits 1 with one line per problem when secrets, the database and mail are missing', async () => {
    const { code, lines } = await startFailing({ NODE_ENV: 'production' });
    expect(code).toBe(1);
    expect(lines).toEqual([
      expect.stringMatching(/^config error: DATABASE_URL: is required in production/),
      'config error: JWT_ACCESS_SECRET: is required in production',
      'config error: JWT_REFRESH_SECRET: is required in production',
      expect.stringMatching(/^config error: APP_PUBLIC_URL: is required in production/),
      expect.stringMatching(/^config error: MAIL_FROM: is required in production/),
      expect.stringMatching(
        /^config error: SMTP_URL: is required in production \(or MAIL_TRANSPORT=log/,
      ),
    ]);
  });

  it('exits 1 on a short secret', async () => {
    const { code, lines } = await startFailing({ ...production, JWT_REFRESH_SECRET: 'too-short' });
    expect(code).toBe(1);
    expect(lines).toEqual(['config error: JWT_REFRESH_SECRET: must be at least 32 bytes (got 9)']);
  });

  it('exits 1 on the placeholder secret from .env.prod.example', async () => {
    const { code, lines } = await startFailing({
      ...production,
      JWT_ACCESS_SECRET: 'CHANGE_ME_generate_with_openssl_rand_base64_48_access',
    });
    expect(code).toBe(1);
    expect(lines).toEqual([
      expect.stringMatching(/^config error: JWT_ACCESS_SECRET: is the placeholder/),
    ]);
  });

  it('exits 1 on an invalid variable, without a stack trace', async () => {
    const { code, lines } = await startFailing({ PORT: 'http' });
    expect(code).toBe(1);
    expect(lines).toEqual(['config error: PORT: must be a number']);
  });
});
