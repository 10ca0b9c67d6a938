import { retryDelayMs } from '../../src/mail/mail-sender';
import { isPermanentFailure, linksIn } from '../../src/mail/mail-transport';
import { messageIdDomain } from '../../src/mail/mail-outbox';

describe('the outbox retry schedule', () => {
  const policy = { baseMs: 5_000, maxMs: 600_000 };

  it('doubles the wait per failed attempt up to the cap, between half of it and all of it', () => {
    const lowest = (attempts: number) => retryDelayMs(attempts, policy, () => 0);
    const highest = (attempts: number) => retryDelayMs(attempts, policy, () => 1);
    expect([1, 2, 3, 4].map(highest)).toEqual([5_000, 10_000, 20_000, 40_000]);
    expect([1, 2, 3, 4].map(lowest)).toEqual([2_500, 5_000, 10_000, 20_000]);
    expect(highest(8)).toBe(600_000);
    expect(highest(1_000)).toBe(600_000);
    expect(lowest(1_000)).toBe(300_000);
  });

  it('spans about 50 minutes with the defaults before the 12th attempt gives up', () => {
    const total = (random: () => number) =>
      Array.from({ length: 11 }, (_, i) => retryDelayMs(i + 1, policy, random)).reduce(
        (sum, ms) => sum + ms,
        0,
      );
    expect(total(() => 1) / 60_000).toBeCloseTo(50.6, 0);
    expect(total(() => 0) / 60_000).toBeCloseTo(25.3, 0);
  });
});

describe('what the sender treats as final', () => {
  it('gives up on a permanent rejection of the recipient or the message, and retries the rest', () => {
    expect(isPermanentFailure({ code: 'EENVELOPE', responseCode: 550, permanent: true })).toBe(
      true,
    );
    expect(isPermanentFailure({ code: 'EMESSAGE', responseCode: 554, permanent: true })).toBe(true);
    // A 4xx, a refused login, an unreachable server: the next attempt may pass.
    expect(isPermanentFailure({ code: 'EENVELOPE', responseCode: 450, permanent: false })).toBe(
      false,
    );
    expect(isPermanentFailure({ code: 'EAUTH', responseCode: 535, permanent: true })).toBe(false);
    expect(isPermanentFailure({ code: 'ESOCKET' })).toBe(false);
    expect(isPermanentFailure(new Error('anything'))).toBe(false);
  });
});

describe('message ids and links', () => {
  it("ends each Message-ID with MAIL_FROM's domain", () => {
    expect(messageIdDomain('Example App <no-reply@mail.example.com>')).toBe('mail.example.com');
    expect(messageIdDomain('no-reply@example.org')).toBe('example.org');
  });

  it('finds the links of a text body, for the development log line', () => {
    expect(
      linksIn('Confirm: https://app.example.com/verify?token=abc.\nOr (http://x.test/a).'),
    ).toEqual(['https://app.example.com/verify?token=abc', 'http://x.test/a']);
  });
});
