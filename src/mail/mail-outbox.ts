import { randomUUID } from 'node:crypto';
import type { Prisma, PrismaClient } from '../generated/prisma/client';

/**
 * The transactional outbox's write side: a message is queued through the transaction client of
 * the change it reports (the token it carries, the password it announces), so it exists if and
 * only if that change committed. Sending is the sender's job (it claims due rows on any replica).
 */

/** A message ready to queue: addressed, rendered in plain text and HTML. */
export interface OutgoingMail {
  /** What it is (`verify-email`, `password-reset`, ...): for logs and metrics. */
  kind: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** What can queue a message: the Prisma client, or the client of an interactive transaction. */
export type MailWriter = Pick<PrismaClient | Prisma.TransactionClient, 'mailMessage'>;

/**
 * Queues `mail` through `writer`. The `Message-ID` is fixed now, so every retry of this message
 * carries the same one. @returns that Message-ID.
 */
export async function enqueueMail(
  writer: MailWriter,
  mail: OutgoingMail,
  domain: string,
): Promise<string> {
  const messageId = `<${randomUUID()}@${domain}>`;
  await writer.mailMessage.create({
    data: {
      messageId,
      kind: mail.kind,
      toAddress: mail.to,
      subject: mail.subject,
      textBody: mail.text,
      htmlBody: mail.html,
    },
  });
  return messageId;
}

/**
 * The domain that ends each Message-ID: `MAIL_FROM`'s (`Example <no-reply@example.com>` ->
 * `example.com`), so receivers see IDs of the domain the mail claims to come from.
 */
export function messageIdDomain(from: string): string {
  const address = /<([^>]+)>\s*$/.exec(from)?.[1] ?? from;
  return address.slice(address.lastIndexOf('@') + 1).trim() || 'localhost';
}
