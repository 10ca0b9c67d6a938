import type { TestApp } from './test-app';

/** A message as the outbox holds it. */
export interface QueuedMail {
  messageId: string;
  kind: string;
  toAddress: string;
  subject: string;
  textBody: string;
  htmlBody: string | null;
  createdAt: Date;
}

/** The messages queued for `to` (of `kind`, when given), oldest first. */
export async function mailsTo(t: TestApp, to: string, kind?: string): Promise<QueuedMail[]> {
  return t.db.prisma.mailMessage.findMany({
    where: { toAddress: to, ...(kind ? { kind } : {}) },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
}

/** The newest message of `kind` queued for `to`; fails when there is none. */
export async function lastMailTo(t: TestApp, to: string, kind: string): Promise<QueuedMail> {
  const mails = await mailsTo(t, to, kind);
  const mail = mails[mails.length - 1];
  if (!mail) throw new Error(`no ${kind} mail queued for ${to}`);
  return mail;
}

/** The link of a message (`APP_PUBLIC_URL` + path + `?token=...`), read from its text part. */
export function linkIn(mail: QueuedMail): URL {
  const match = /https?:\/\/\S+\?token=\S+/.exec(mail.textBody);
  if (!match) throw new Error(`no link in the ${mail.kind} mail:\n${mail.textBody}`);
  return new URL(match[0]);
}

/** The token of a message's link. */
export function tokenIn(mail: QueuedMail): string {
  const token = linkIn(mail).searchParams.get('token');
  if (!token) throw new Error(`no token in the link of the ${mail.kind} mail`);
  return token;
}
