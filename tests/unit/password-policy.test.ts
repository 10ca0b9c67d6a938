import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import commonPasswords from '../../src/auth/common-passwords.json';
import { commonPasswordForm, createPasswordPolicy } from '../../src/auth/password-policy';
import { createLogger } from '../../src/logger';
import { LogCapture } from '../../harness/log-capture';

const refusedWith = (code: string): unknown => expect.objectContaining({ code });

describe('the shipped common-password list', () => {
  it('has at least 10,000 entries, with its source and license', () => {
    expect(commonPasswords.passwords.length).toBeGreaterThanOrEqual(10_000);
    expect(new Set(commonPasswords.passwords).size).toBe(commonPasswords.passwords.length);
    expect(commonPasswords.source).toMatch(/zxcvbn-ts/);
    expect(commonPasswords.license).toMatch(/^MIT/);
    expect(createPasswordPolicy().size).toBe(commonPasswords.passwords.length);
  });
});

describe('createPasswordPolicy', () => {
  const policy = createPasswordPolicy();

  it.each(['password', '12345678', 'qwertyui', 'iloveyou', 'password1', '11111111'])(
    'refuses %p with PASSWORD_TOO_COMMON',
    async (password) => {
      await expect(policy.assertAcceptable(password)).rejects.toEqual(
        refusedWith('PASSWORD_TOO_COMMON'),
      );
    },
  );

  it('refuses case and surrounding-whitespace variants of a common password', async () => {
    for (const variant of ['Password1', 'PASSWORD1', '  password1 ', 'ＰＡＳＳＷＯＲＤ１']) {
      await expect(policy.assertAcceptable(variant)).rejects.toEqual(
        refusedWith('PASSWORD_TOO_COMMON'),
      );
    }
    expect(commonPasswordForm(' ＰａｓｓＷｏｒｄ ')).toBe('password');
  });

  it('accepts a strong password, and one that merely contains a common one', async () => {
    await expect(policy.assertAcceptable('correct horse battery staple')).resolves.toBeUndefined();
    await expect(policy.assertAcceptable('password1 is not my password')).resolves.toBeUndefined();
  });

  it('can be built over a list of its own', async () => {
    const own = createPasswordPolicy({ list: ['Company2026'] });
    expect(own.size).toBe(1);
    await expect(own.assertAcceptable('company2026')).rejects.toEqual(
      refusedWith('PASSWORD_TOO_COMMON'),
    );
    await expect(own.assertAcceptable('password')).resolves.toBeUndefined();
  });
});

describe('the optional online breach check (k-anonymity range API)', () => {
  const BREACHED = 'breached but long enough';
  const sha1 = (text: string) => createHash('sha1').update(text).digest('hex').toUpperCase();
  const requested: Array<{ url: string | undefined; padding: string | undefined }> = [];
  let failing = false;
  let server: http.Server;
  let url: string;

  beforeAll(async () => {
    // A range API on loopback: what api.pwnedpasswords.com answers, for one breached password.
    server = http.createServer((req, res) => {
      requested.push({ url: req.url, padding: req.headers['add-padding'] as string | undefined });
      if (failing) return void res.writeHead(503).end();
      const hash = sha1(BREACHED);
      const body =
        req.url === `/range/${hash.slice(0, 5)}`
          ? `${'0'.repeat(35)}:0\r\n${hash.slice(5)}:42\r\n`
          : `${'F'.repeat(35)}:0\r\n`;
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/range/`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));

  it('refuses a breached password with PASSWORD_BREACHED, sending only 5 hex digits of its SHA-1', async () => {
    const policy = createPasswordPolicy({ breachCheckUrl: url });
    await expect(policy.assertAcceptable(BREACHED)).rejects.toEqual(
      refusedWith('PASSWORD_BREACHED'),
    );
    await expect(policy.assertAcceptable('violet tugboat margin 42')).resolves.toBeUndefined();
    expect(requested.slice(-2)).toEqual([
      { url: `/range/${sha1(BREACHED).slice(0, 5)}`, padding: 'true' },
      { url: `/range/${sha1('violet tugboat margin 42').slice(0, 5)}`, padding: 'true' },
    ]);
  });

  it('accepts the password and logs a warning when the API fails', async () => {
    const logs = new LogCapture();
    const logger = createLogger({ level: 'info', instanceId: 't', destination: logs.stream() });
    failing = true;
    try {
      const policy = createPasswordPolicy({ breachCheckUrl: url, logger });
      await expect(policy.assertAcceptable(BREACHED)).resolves.toBeUndefined();
      // The offline list still applies.
      await expect(policy.assertAcceptable('password')).rejects.toEqual(
        refusedWith('PASSWORD_TOO_COMMON'),
      );
    } finally {
      failing = false;
    }
    expect(logs.lines).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: expect.stringMatching(/breach check unavailable/),
      }),
    );
  });
});
