import { readdirSync } from 'node:fs';
import { eventually } from './eventually';
import { request } from './http-client';
import { freePort, waitForPort } from './ports';
import { startProcess, type ManagedProcess } from './processes';
import { makeTempDir, removeTempDir } from './temp-dirs';

/** The maildev command: an SMTP server that keeps every message, with a web UI and a REST API. */
export const MAILDEV_BIN = require.resolve('maildev/bin/maildev');

/** A message the SMTP server received, as parsed from its raw source. */
export interface ReceivedMail {
  /** The server's own id (for {@link SmtpServer.raw}). */
  id: string;
  /** The `Message-ID` header, with its angle brackets. */
  messageId: string;
  from: string;
  /** The `To` addresses. */
  to: string[];
  subject: string;
  text: string;
  html: string | undefined;
  /** Every `http(s)://` link of the text part, in order. */
  links: string[];
  /** Header names in lower case. */
  headers: Record<string, string>;
}

export interface SmtpServer {
  /** `smtp://[user:pass@]127.0.0.1:<port>`: what SMTP_URL is set to. */
  url: string;
  port: number;
  /** The web UI and REST API. */
  webUrl: string;
  /** Every message received so far, including those received before a restart, oldest first. */
  messages(): Promise<ReceivedMail[]>;
  /** Resolves with the first message that matches, once it has arrived. */
  waitForMessage(
    predicate: (mail: ReceivedMail) => boolean,
    options?: { describe?: string; timeoutMs?: number },
  ): Promise<ReceivedMail>;
  /** The message as it arrived over SMTP. */
  raw(mail: Pick<ReceivedMail, 'id'>): Promise<string>;
  /** Stops the server: connections are then refused, as in an outage. */
  stop(): Promise<void>;
  /** Starts it again on the same port, with the messages received so far (after `stop`). */
  start(): Promise<void>;
  destroy(): Promise<void>;
}

interface MaildevMail {
  id: string;
  messageId?: string;
  subject?: string;
  text?: string;
  html?: string;
  from?: Array<{ address: string }>;
  to?: Array<{ address: string }>;
  headers?: Record<string, string>;
}

/**
 * A real SMTP server in a process of its own (maildev) on free ports of 127.0.0.1: it receives
 * what the app sends, keeps each message as an `.eml` file, and parses them for the test. It can
 * be stopped and started again on the same port, keeping what it received. With `auth`, it
 * requires that user and password (and `url` carries them).
 */
export async function startSmtpServer(
  options: { auth?: { user: string; pass: string } } = {},
): Promise<SmtpServer> {
  const [port, webPort] = [await freePort(), await freePort()];
  const dir = makeTempDir('harness-smtp-');
  const webUrl = `http://127.0.0.1:${webPort}`;
  const credentials = options.auth
    ? `${encodeURIComponent(options.auth.user)}:${encodeURIComponent(options.auth.pass)}@`
    : '';
  let proc: ManagedProcess | undefined;

  /** What maildev holds, once it holds every file of its folder (it reloads them on a restart). */
  const all = async (): Promise<MaildevMail[]> =>
    eventually(
      async () => {
        const files = readdirSync(dir).filter((file) => file.endsWith('.eml')).length;
        const reply = await request(`${webUrl}/email`);
        if (reply.status !== 200) throw new Error(`GET /email answered ${reply.status}`);
        return { files, mails: reply.body as MaildevMail[] };
      },
      {
        describe: 'the SMTP server to list every message it has received',
        until: ({ files, mails }) => mails.length === files,
      },
    ).then(({ mails }) => mails);

  const server: SmtpServer = {
    url: `smtp://${credentials}127.0.0.1:${port}`,
    port,
    webUrl,
    async messages() {
      return (await all()).map(toReceivedMail);
    },
    waitForMessage(predicate, { describe = 'a matching message', timeoutMs = 60_000 } = {}) {
      return eventually<ReceivedMail | undefined>(
        async () => (await server.messages()).find(predicate),
        { describe: `${describe} to arrive over SMTP`, timeoutMs, intervalMs: 200 },
      );
    },
    async raw({ id }) {
      return (await request(`${webUrl}/email/${id}/source`)).text;
    },
    async start() {
      proc = startProcess(
        process.execPath,
        [
          MAILDEV_BIN,
          ...['--smtp', String(port), '--ip', '127.0.0.1'],
          ...['--web', String(webPort), '--web-ip', '127.0.0.1'],
          ...['--mail-directory', dir],
          ...(options.auth
            ? ['--incoming-user', options.auth.user, '--incoming-pass', options.auth.pass]
            : []),
        ],
        { name: 'maildev', env: { PATH: process.env.PATH } },
      );
      await Promise.all([
        waitForPort(port, { owner: proc }),
        waitForPort(webPort, { owner: proc }),
      ]);
    },
    async stop() {
      await proc?.stop('SIGTERM');
      proc = undefined;
    },
    async destroy() {
      await server.stop();
      removeTempDir(dir);
    },
  };
  await server.start();
  return server;
}

function toReceivedMail(mail: MaildevMail): ReceivedMail {
  const text = mail.text ?? '';
  return {
    id: mail.id,
    messageId: mail.headers?.['message-id'] ?? (mail.messageId ? `<${mail.messageId}>` : ''),
    from: mail.from?.[0]?.address ?? '',
    to: (mail.to ?? []).map((to) => to.address),
    subject: mail.subject ?? '',
    text,
    html: mail.html,
    links: [...text.matchAll(/https?:\/\/[^\s<>"')]+/g)].map((match) =>
      match[0].replace(/[.,;:!?]+$/, ''),
    ),
    headers: mail.headers ?? {},
  };
}
