import type { OutgoingMail } from '../mail/mail-outbox';

/**
 * The account lifecycle's messages, each in plain text and HTML. Everything interpolated into
 * the HTML is escaped (a display name or an address is user input); links are built from
 * APP_PUBLIC_URL and a random token, and escaped all the same.
 */

/** Escapes text for HTML content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char] ?? char);
}

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** A message body, written once as paragraphs (and an optional link) and rendered twice. */
interface Body {
  paragraphs: readonly string[];
  link?: { url: string; label: string };
  /** Closing line, after the link. */
  footer?: string;
}

function render(kind: string, to: string, subject: string, body: Body): OutgoingMail {
  const text = [
    ...body.paragraphs,
    ...(body.link ? [`${body.link.label}:\n${body.link.url}`] : []),
    ...(body.footer ? [body.footer] : []),
  ].join('\n\n');
  const html = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head>`,
    '<body style="font-family: sans-serif; line-height: 1.5">',
    ...body.paragraphs.map((paragraph) => `<p>${escapeHtml(paragraph)}</p>`),
    ...(body.link
      ? [
          `<p><a href="${escapeHtml(body.link.url)}">${escapeHtml(body.link.label)}</a></p>`,
          `<p style="font-size: smaller">${escapeHtml(body.link.url)}</p>`,
        ]
      : []),
    ...(body.footer ? [`<p style="font-size: smaller">${escapeHtml(body.footer)}</p>`] : []),
    '</body></html>',
  ].join('\n');
  return { kind, to, subject, text: `${text}\n`, html: `${html}\n` };
}

const NOT_YOU =
  'If this was not you, reset your password at once and review your sessions: someone else may know it.';

const hours = (seconds: number) =>
  seconds % 3600 === 0
    ? `${seconds / 3600} hour${seconds === 3600 ? '' : 's'}`
    : `${Math.round(seconds / 60)} minutes`;

/** The mails of the account lifecycle, for an app named `appName`. */
export function accountMails(appName: string) {
  return {
    verifyEmail: (to: string, url: string, ttlSeconds: number) =>
      render('verify-email', to, `Confirm your email address for ${appName}`, {
        paragraphs: [
          `Welcome to ${appName}. Please confirm that ${to} is your address.`,
          `The link works once and expires in ${hours(ttlSeconds)}.`,
        ],
        link: { url, label: 'Confirm my address' },
        footer: 'If you did not create an account, ignore this message.',
      }),

    passwordReset: (to: string, url: string, ttlSeconds: number) =>
      render('password-reset', to, `Reset your ${appName} password`, {
        paragraphs: [
          `Someone asked to reset the password of the ${appName} account of ${to}.`,
          `The link works once and expires in ${hours(ttlSeconds)}. Completing the reset signs out every device.`,
        ],
        link: { url, label: 'Choose a new password' },
        footer: 'If you did not ask for this, ignore this message: your password stays as it is.',
      }),

    passwordResetCompleted: (to: string) =>
      render('password-reset-completed', to, `Your ${appName} password was reset`, {
        paragraphs: [
          `The password of your ${appName} account was reset with a link mailed to ${to}. Every device was signed out.`,
        ],
        footer: NOT_YOU,
      }),

    passwordChanged: (to: string) =>
      render('password-changed', to, `Your ${appName} password was changed`, {
        paragraphs: [
          `The password of your ${appName} account was changed. Every other device was signed out.`,
        ],
        footer: NOT_YOU,
      }),

    confirmEmailChange: (to: string, url: string, ttlSeconds: number) =>
      render('email-change-confirm', to, `Confirm your new email address for ${appName}`, {
        paragraphs: [
          `Someone asked to use ${to} as the address of a ${appName} account.`,
          `The change happens when the link is followed. It works once and expires in ${hours(ttlSeconds)}.`,
        ],
        link: { url, label: 'Confirm the new address' },
        footer: 'If you did not ask for this, ignore this message.',
      }),

    emailChangeRequested: (to: string, newEmail: string) =>
      render(
        'email-change-requested',
        to,
        `A change of your ${appName} email address was requested`,
        {
          paragraphs: [
            `Someone signed in to your ${appName} account asked to change its address to ${newEmail}. A confirmation link was sent there; nothing changes until it is followed.`,
          ],
          footer: NOT_YOU,
        },
      ),

    emailChanged: (to: string, newEmail: string) =>
      render('email-changed', to, `Your ${appName} email address was changed`, {
        paragraphs: [
          `The address of your ${appName} account is now ${newEmail}. Messages about the account go there from now on.`,
        ],
        footer: NOT_YOU,
      }),

    accountDeleted: (to: string) =>
      render('account-deleted', to, `Your ${appName} account was deleted`, {
        paragraphs: [
          `Your ${appName} account (${to}) and its sessions were deleted. This cannot be undone; you can register again with the same address.`,
        ],
        footer:
          'If you did not delete it, someone knew your password: change it wherever you used it.',
      }),
  };
}

export type AccountMails = ReturnType<typeof accountMails>;
