import path from 'node:path';
import { register } from '../../harness/auth-api';
import { eventually } from '../../harness/eventually';
import { request } from '../../harness/http-client';
import { freePort, tryConnect } from '../../harness/ports';
import { makeTempDir } from '../../harness/temp-dirs';
import { ComposeProject, containerRun, docker, writeEnvFile } from '../helpers/container/docker';

/**
 * docker-compose.yml (development) on a real engine, with the image the tier built, plus
 * docker-compose.db-ports.yml, which publishes PostgreSQL on a loopback port of the test's
 * choosing (the host's own PostgreSQL and Redis hold 5432 and 6379). The API is reachable only
 * through nginx, which alone is trusted for X-Forwarded-For (TRUST_PROXY=1).
 */
describe('docker-compose.yml (development) on a real Docker engine', () => {
  const { repository } = containerRun();
  let project: ComposeProject;
  let baseUrl: string;
  let postgresPort: number;
  let mailUiUrl: string;

  beforeAll(async () => {
    const tmp = makeTempDir('container-dev-');
    const [httpPort, pgPort, redisPort, mailUiPort] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    postgresPort = pgPort;
    mailUiUrl = `http://127.0.0.1:${mailUiPort}`;
    baseUrl = `http://127.0.0.1:${httpPort}`;
    const envFile = path.join(tmp, 'compose.env');
    writeEnvFile(envFile, {
      API_IMAGE: repository,
      API_VERSION: 'v1',
      HTTP_PORT: String(httpPort),
      POSTGRES_HOST_PORT: String(pgPort),
      REDIS_HOST_PORT: String(redisPort),
      MAIL_UI_PORT: String(mailUiPort),
    });
    project = new ComposeProject(
      'dev',
      ['docker-compose.yml', 'docker-compose.db-ports.yml'],
      envFile,
    );
    const up = await project.compose(['up', '-d']);
    if (up.code !== 0) throw new Error(`docker compose up failed:\n${up.output}`);
    console.log(`container tier, dev stack: up in ${Math.round(up.ms / 1000)}s`);
    await eventually(() => request(`${baseUrl}/health/ready`).then((r) => r.status), {
      describe: `${baseUrl}/health/ready through nginx to answer 200`,
      timeoutMs: 120_000,
      until: (status) => status === 200,
    });
  });

  afterAll(() => project?.down());

  it('registers an account through nginx', async () => {
    const account = await register(baseUrl, { label: 'container-dev' });
    expect(account.accessToken).toEqual(expect.any(String));
  });

  it('publishes only nginx, the databases and the mail UI, and only on 127.0.0.1; the API not at all', async () => {
    const published: Record<string, string[]> = {};
    for (const service of ['api', 'nginx', 'postgres', 'redis', 'mailpit']) {
      const [id] = await project.containers(service);
      const bindings = JSON.parse(
        await docker(['inspect', '-f', '{{json .HostConfig.PortBindings}}', id!]),
      ) as Record<string, Array<{ HostIp: string; HostPort: string }>> | null;
      published[service] = Object.values(bindings ?? {})
        .flat()
        .map((b) => `${b.HostIp}:${b.HostPort}`);
    }
    expect(published).toEqual({
      api: [],
      nginx: [baseUrl.replace('http://', '')],
      postgres: [`127.0.0.1:${postgresPort}`],
      redis: [expect.stringMatching(/^127\.0\.0\.1:\d+$/)],
      mailpit: [mailUiUrl.replace('http://', '')],
    });
    expect(await tryConnect(postgresPort)).toBe('connected');
  });

  it("serves the mail catcher's web UI on 127.0.0.1", async () => {
    const ui = await eventually(() => request(mailUiUrl), {
      describe: 'the mail UI to answer',
      until: (reply) => reply.status === 200,
    });
    expect(ui.headers['content-type']).toMatch(/text\/html/);
  });

  it("delivers the API's mail to the catcher: a registration's verification message", async () => {
    const account = await register(baseUrl, { label: 'container-mail' });
    await eventually(caughtRecipients, {
      describe: `the verification message to ${account.email} in the mail catcher`,
      timeoutMs: 60_000,
      until: (recipients) => recipients.includes(account.email),
    });
  });

  /**
   * Whom the catcher has mail for, through its HTTP API: Mailpit's, or maildev's when the tier
   * runs the stand-in (see container.global-setup.ts).
   */
  async function caughtRecipients(): Promise<string[]> {
    const mailpit = await request(`${mailUiUrl}/api/v1/messages`);
    if (mailpit.status === 200) {
      const { messages } = mailpit.body as { messages: Array<{ To: Array<{ Address: string }> }> };
      return messages.flatMap((message) => message.To.map((to) => to.Address));
    }
    const maildev = await request(`${mailUiUrl}/email`);
    return (maildev.body as Array<{ to: Array<{ address: string }> }>).flatMap((message) =>
      message.to.map((to) => to.address),
    );
  }

  it('takes the client address from nginx, not from a header the client forged', async () => {
    // Loopback may read the metrics: a client that could pass for 127.0.0.1 would get them.
    const forged = await request(`${baseUrl}/health/metrics`, {
      headers: { 'X-Forwarded-For': '127.0.0.1' },
    });
    expect(forged.status).toBe(403);
  });

  it('tears down to nothing, volumes included', async () => {
    await project.down();
    expect(await project.leftovers()).toEqual([]);
  });
});
