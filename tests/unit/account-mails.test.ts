import { accountMails, escapeHtml } from '../../src/account/account.mails';

describe('account mails', () => {
  const mails = accountMails('app.example.com');
  const hostile = `<script>alert("x")</script>&'`;

  it('escapes everything interpolated into the HTML part', () => {
    expect(escapeHtml(hostile)).toBe('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;');
    const mail = mails.emailChanged('old@example.com', hostile);
    expect(mail.html).not.toContain('<script>');
    expect(mail.html).toContain(escapeHtml(hostile));
    // The plain-text part carries the text as is.
    expect(mail.text).toContain(hostile);
  });

  it('escapes a link in the href and the visible text, and keeps it whole in the text part', () => {
    const url = 'https://app.example.com/reset-password?token=abc&x="y"';
    const mail = mails.passwordReset('a@example.com', url, 1800);
    expect(mail.html).toContain(`href="${escapeHtml(url)}"`);
    expect(mail.html).not.toContain('"y"');
    expect(mail.text).toContain(url);
    expect(mail.text).toContain('30 minutes');
  });

  it.each(Object.keys(mails) as Array<keyof typeof mails>)(
    'renders %s in plain text and HTML, addressed and with a subject',
    (name) => {
      const render = mails[name] as (...args: unknown[]) => {
        to: string;
        subject: string;
        text: string;
        html: string;
        kind: string;
      };
      const mail = render('to@example.com', 'https://app.example.com/x?token=t', 3600);
      expect(mail.to).toBe('to@example.com');
      expect(mail.subject).toContain('app.example.com');
      expect(mail.text.length).toBeGreaterThan(40);
      expect(mail.html).toMatch(/^<!doctype html>/);
      expect(mail.kind).toMatch(/^[a-z-]+$/);
    },
  );
});
