import commonPasswords from '../../src/auth/common-passwords.json';
import { commonPasswordForm, createPasswordPolicy } from '../../src/auth/password-policy';

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
    (password) => {
      expect(() => policy.assertAcceptable(password)).toThrow(
        expect.objectContaining({ code: 'PASSWORD_TOO_COMMON' }),
      );
    },
  );

  it('refuses case and surrounding-whitespace variants of a common password', () => {
    for (const variant of ['Password1', 'PASSWORD1', '  password1 ', 'ＰＡＳＳＷＯＲＤ１']) {
      expect(() => policy.assertAcceptable(variant)).toThrow(
        expect.objectContaining({ code: 'PASSWORD_TOO_COMMON' }),
      );
    }
    expect(commonPasswordForm(' ＰａｓｓＷｏｒｄ ')).toBe('password');
  });

  it('accepts a strong password, and one that merely contains a common one', () => {
    expect(() => policy.assertAcceptable('correct horse battery staple')).not.toThrow();
    expect(() => policy.assertAcceptable('password1 is not my password')).not.toThrow();
  });

  it('can be built over a list of its own', () => {
    const own = createPasswordPolicy(['Company2026']);
    expect(own.size).toBe(1);
    expect(() => own.assertAcceptable('company2026')).toThrow();
    expect(() => own.assertAcceptable('password')).not.toThrow();
  });
});
