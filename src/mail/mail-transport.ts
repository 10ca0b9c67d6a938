import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import nodemailer from 'nodemailer';
import type { Config, MailTransportKind } from '../config';
import type { Logger } from '../logger';

/** A claimed row of the outbox, ready to send. */
export interface OutboxMessage {
  readonly id: string;
  /** `<uuid@domain>`, fixed when queued: every attempt carries the same one. */
  readonly messageId: string;
  readonly kind: string;
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html: string | null;
  /** Attempts so far, this one included. */
  readonly attempts: number;
}

/** Where a message goes: an SMTP server, or (without one) the development outbox or the log. */
export interface MailTransport {
  readonly kind: MailTransportKind;
  /** Resolves once the message is handed over; rejects with the transport's error. */
  send(message: OutboxMessage): Promise<void>;
  close(): void;
}

/** The links (`https://...`) in a message's text: what a developer follows from a log line. */
export function linksIn(text: string): string[] {
  // A sentence's full stop after a link is not part of it.
  return [...text.matchAll(/https?:\/\/[^\s<>"')]+/g)].map((match) =>
    match[0].replace(/[.,;:!?]+$/, ''),
  );
}

/**
 * Whether retrying cannot help: the server refused this recipient or this message for good
 * (a permanent 5xx reply to RCPT TO or DATA). A refused login, a refused connection or a 4xx
 * reply may pass later, once the operator or the server has recovered: those are retried.
 */
export function isPermanentFailure(error: unknown): boolean {
  const { code, permanent } = error as { code?: string; permanent?: boolean };
  return permanent === true && (code === 'EENVELOPE' || code === 'EMESSAGE');
}

/** The mail fields nodemailer composes from a row: the same for every transport. */
function mailOptions(message: OutboxMessage) {
  return {
    to: message.to,
    subject: message.subject,
    text: message.text,
    ...(message.html === null ? {} : { html: message.html }),
    messageId: message.messageId,
    // RFC 3834: an automatic message, so auto-responders do not answer it.
    headers: { 'Auto-Submitted': 'auto-generated' },
  };
}

/** What {@link createMailTransport} reads from the config. */
export type MailTransportConfig = Pick<Config, 'dataDir'> & {
  readonly mail: Pick<Config['mail'], 'transport' | 'smtpUrl' | 'from' | 'sendTimeoutMs'>;
};

/**
 * The transport `config.mail.transport` names (loadConfig resolved it, and refused a missing
 * `SMTP_URL` where one is needed):
 * - `smtp`: nodemailer over `SMTP_URL`, one connection per message (no pool: a message's lease
 *   covers one send, never a queue behind other messages), with every wait bounded;
 * - `outbox`: development; the whole message as an `.eml` file under `DATA_DIR/outbox/` (any
 *   mail client opens it) and one log line with its links, so nothing needs to be installed;
 * - `log`: the log line alone.
 */
export function createMailTransport(config: MailTransportConfig, logger: Logger): MailTransport {
  const { transport: kind, smtpUrl, from, sendTimeoutMs } = config.mail;
  const logLine = (message: OutboxMessage, extra: Record<string, unknown>, what: string) =>
    logger.info(
      {
        mail: {
          kind: message.kind,
          to: message.to,
          subject: message.subject,
          messageId: message.messageId,
          links: linksIn(message.text),
          ...extra,
        },
      },
      what,
    );

  if (kind === 'smtp') {
    if (!smtpUrl) throw new Error('MAIL_TRANSPORT=smtp needs SMTP_URL');
    const transporter = nodemailer.createTransport(
      {
        url: smtpUrl,
        connectionTimeout: sendTimeoutMs,
        greetingTimeout: sendTimeoutMs,
        socketTimeout: sendTimeoutMs,
      },
      { from },
    );
    return {
      kind,
      async send(message) {
        await transporter.sendMail(mailOptions(message));
      },
      close: () => transporter.close(),
    };
  }

  if (kind === 'log') {
    return {
      kind,
      send(message) {
        logLine(message, {}, 'mail written to the log only (MAIL_TRANSPORT=log)');
        return Promise.resolve();
      },
      close() {},
    };
  }

  const dir = path.join(config.dataDir, 'outbox');
  const composer = nodemailer.createTransport(
    { streamTransport: true, buffer: true, newline: 'unix' },
    { from },
  );
  return {
    kind,
    async send(message) {
      const { message: raw } = await composer.sendMail(mailOptions(message));
      mkdirSync(dir, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const file = path.join(dir, `${stamp}-${message.kind}-${randomUUID().slice(0, 8)}.eml`);
      writeFileSync(file, raw as Buffer);
      logLine(message, { file }, 'mail written to the development outbox');
    },
    close: () => composer.close(),
  };
}
