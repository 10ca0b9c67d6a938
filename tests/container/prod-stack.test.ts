import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { login, register } from '../../harness/auth-api';
import { eventually } from '../../harness/eventually';
import { request, requestJson } from '../../harness/http-client';
import { summarizeFailures, waitForRequests, type LoadReport } from '../../harness/load-generator';
import { freePort } from '../../harness/ports';
import { makeTempDir } from '../../harness/temp-dirs';
import {
  ComposeProject,
  ROOT,
  accessLogRequestIds,
  containerRun,
  docker,
  productionEnv,
  run,
  writeEnvFile,
  type CommandResult,
} from '../helpers/container/docker';
import { registerSessions, startDeployLoad, type Session } from '../helpers/deploy-environment';

/**
 * docker-compose.prod.yml on a real engine, with the image the tier built: the stack comes up
 * from an .env.prod made from .env.prod.example, serves the API through nginx, and both deploy
 * scripts (`--driver compose`) replace its replicas under steady load, roll back broken releases,
 * and leave the work tree alone. One project for the whole file; the tests run in order.
 */
const REPLICAS = 2;
const SHIPPED_UPSTREAMS = path.join(ROOT, 'nginx/upstreams/api.conf');

describe('docker-compose.prod.yml on a real Docker engine', () => {
  const { repository } = containerRun();
  let project: ComposeProject;
  let baseUrl: string;
  let stateDir: string;
  let sessions: Session[];
  const shipped = { text: readFileSync(SHIPPED_UPSTREAMS, 'utf8'), mtimeMs: 0 };
  const figures: string[] = [];

  beforeAll(async () => {
    shipped.mtimeMs = statSync(SHIPPED_UPSTREAMS).mtimeMs;
    const tmp = makeTempDir('container-prod-');
    stateDir = path.join(tmp, 'state');
    const envFile = path.join(tmp, 'prod.env');
    const port = await freePort();
    baseUrl = `http://127.0.0.1:${port}`;
    writeEnvFile(
      envFile,
      productionEnv({
        // The containers read this same file (env_file), and compose interpolates from it.
        API_ENV_FILE: envFile,
        API_IMAGE: repository,
        API_VERSION: 'v1',
        API_REPLICAS: String(REPLICAS),
        HTTP_BIND_ADDRESS: '127.0.0.1',
        HTTP_PORT: String(port),
        // The load comes from one address: limits out of its reach (every request still goes
        // through every limiter and Redis).
        RATE_LIMIT_API_MAX: '1000000',
        RATE_LIMIT_AUTH_MAX: '1000000',
        RATE_LIMIT_AUTH_EMAIL_MAX: '1000000',
        RATE_LIMIT_REFRESH_MAX: '1000000',
        // The tests sign accounts up and use their tokens at once: nobody follows a mailed link.
        AUTH_ALLOW_UNVERIFIED_SIGN_IN: 'true',
        // The stack has no SMTP server: mail goes to the log.
        MAIL_TRANSPORT: 'log',
      }),
    );
    project = new ComposeProject('prod', ['docker-compose.prod.yml'], envFile);
    const up = await project.compose(['up', '-d']);
    if (up.code !== 0) throw new Error(`docker compose up failed:\n${up.output}`);
    figures.push(`stack up in ${Math.round(up.ms / 1000)}s`);
    await eventually(() => request(`${baseUrl}/health/ready`).then((r) => r.status), {
      describe: `${baseUrl}/health/ready through nginx to answer 200`,
      timeoutMs: 120_000,
      until: (status) => status === 200,
    });
  });

  afterAll(async () => {
    console.log(`container tier, prod stack:\n  ${figures.join('\n  ')}`);
    await project?.down();
  });

  function deploy(strategy: 'rolling' | 'blue-green', version: string, args: string[] = []) {
    return run('bash', [
      path.join(ROOT, 'scripts', `deploy-${strategy}.sh`),
      '--driver',
      'compose',
      '--compose-file',
      path.join(ROOT, 'docker-compose.prod.yml'),
      '--env-file',
      project.envFile,
      '--project-name',
      project.name,
      '--state-dir',
      stateDir,
      ...args,
      version,
    ]);
  }

  /** The api containers' ids and image tags. */
  async function replicas(): Promise<Array<{ id: string; version: string }>> {
    const ids = (await project.containers('api')).sort();
    return Promise.all(
      ids.map(async (id) => ({
        id,
        version: (await docker(['inspect', '-f', '{{.Config.Image}}', id])).trim().split(':')[1]!,
      })),
    );
  }

  async function nginxLog(): Promise<string> {
    const [id] = await project.containers('nginx');
    return docker(['logs', id!]);
  }

  /**
   * Runs a deploy while the deploy load (GETs and token-rotating POSTs) runs through nginx, with
   * traffic before and after it; checks that no request failed and that every request the load
   * resent after a connection reset had never reached nginx.
   */
  async function deployUnderLoad(
    strategy: 'rolling' | 'blue-green',
    version: string,
  ): Promise<{ result: CommandResult; report: LoadReport }> {
    const load = startDeployLoad(baseUrl, sessions);
    await waitForRequests(load, 200);
    const result = await deploy(strategy, version);
    await waitForRequests(load, 200);
    const report = await load.stop();
    expect({ code: result.code, failures: summarizeFailures(report.failures) }).toEqual({
      code: 0,
      failures: [],
    });
    const seen = accessLogRequestIds(await nginxLog());
    expect(report.resets.filter((reset) => seen.has(reset.requestId))).toEqual([]);
    figures.push(
      `${strategy} deploy to ${version}: ${Math.round(result.ms / 1000)}s, ` +
        `${report.sent} requests sent, ${report.failures.length} failed, ` +
        `${report.resets.length} keep-alive re-sends of requests nginx never received`,
    );
    return { result, report };
  }

  it('runs the API as a non-root user on a read-only root filesystem, and Docker sees it healthy', async () => {
    const [id] = await project.containers('api');
    const inspected = JSON.parse(await docker(['inspect', id!])) as Array<{
      Config: { User: string };
      HostConfig: { ReadonlyRootfs: boolean; Init: boolean };
    }>;
    expect(inspected[0]!.Config.User).toBe('node');
    expect(inspected[0]!.HostConfig).toMatchObject({ ReadonlyRootfs: true, Init: true });
    const write = await run('docker', ['exec', id!, 'sh', '-c', 'touch /app/written']);
    expect(write.code).not.toBe(0);
    expect(write.output).toContain('Read-only file system');
    await eventually(() => docker(['inspect', '-f', '{{.State.Health.Status}}', id!]), {
      describe: 'the HEALTHCHECK to report healthy',
      timeoutMs: 60_000,
      until: (status) => status.trim() === 'healthy',
    });
  });

  it('serves register, login, /me and refresh through nginx', async () => {
    const account = await register(baseUrl, { label: 'container' });
    const again = await login(baseUrl, account.email);
    const me = await requestJson<{ user: { email: string } }>(`${baseUrl}/api/auth/me`, {
      headers: { Authorization: `Bearer ${again.accessToken}` },
    });
    expect(me.user.email).toBe(account.email);
    const refreshed = await requestJson<{ refreshToken: string }>(`${baseUrl}/api/auth/refresh`, {
      method: 'POST',
      json: { refreshToken: again.refreshToken },
    });
    expect(refreshed.refreshToken).not.toBe(again.refreshToken);
    // The refresh token just spent is refused.
    const reused = await request(`${baseUrl}/api/auth/refresh`, {
      method: 'POST',
      json: { refreshToken: again.refreshToken },
    });
    expect(reused.status).toBe(401);
    sessions = await registerSessions(baseUrl, 4, `container-load-${Date.now()}`);
  });

  it('rolls to a new version with deploy-rolling.sh under load: no failed request, every replica replaced', async () => {
    const before = await replicas();
    await deployUnderLoad('rolling', 'v2');
    const after = await replicas();
    expect(after).toHaveLength(REPLICAS);
    expect(after.map((r) => r.version)).toEqual(Array(REPLICAS).fill('v2'));
    expect(after.filter((r) => before.some((b) => b.id === r.id))).toEqual([]);
  });

  it('switches with deploy-blue-green.sh under load: no failed request, a whole new set', async () => {
    const before = await replicas();
    await deployUnderLoad('blue-green', 'v1');
    const after = await replicas();
    expect(after.map((r) => r.version)).toEqual(Array(REPLICAS).fill('v1'));
    expect(after.filter((r) => before.some((b) => b.id === r.id))).toEqual([]);
  });

  it('never changes the work tree: the live upstream list is inside the nginx container', async () => {
    expect(readFileSync(SHIPPED_UPSTREAMS, 'utf8')).toBe(shipped.text);
    expect(statSync(SHIPPED_UPSTREAMS).mtimeMs).toBe(shipped.mtimeMs);
    const live = await project.ok(['exec', '-T', 'nginx', 'cat', '/etc/nginx/upstreams/api.conf']);
    const serving = await Promise.all(
      (await project.containers('api')).map(async (id) =>
        (await docker(['inspect', '-f', '{{.Name}}', id])).trim().replace(/^\//, ''),
      ),
    );
    expect([...live.matchAll(/^server (\S+):3001 /gm)].map((m) => m[1]).sort()).toEqual(
      serving.sort(),
    );
  });

  it('rolls back a release that crashes at start within seconds, before nginx ever routes to it', async () => {
    const before = await replicas();
    const { code, output, ms } = await deploy('rolling', 'crash', ['--skip-migrations']);
    expect(code).toBe(1);
    expect(output).toMatch(/crashed \(.*restarted \d+ time\(s\) by its restart policy\)/);
    expect(output).toContain('the previous instances keep serving');
    expect(await replicas()).toEqual(before);
    expect((await request(`${baseUrl}/health/ready`)).status).toBe(200);
    figures.push(
      `crashing release rolled back: the deploy exited 1 after ${(ms / 1000).toFixed(1)}s`,
    );
  });

  it('rolls back a release whose readiness never turns 200, leaving nginx untouched', async () => {
    const before = await replicas();
    const liveBefore = await project.ok([
      'exec',
      '-T',
      'nginx',
      'cat',
      '/etc/nginx/upstreams/api.conf',
    ]);
    const { code, output, ms } = await deploy('blue-green', 'never-ready', [
      '--skip-migrations',
      '--ready-timeout',
      '20',
    ]);
    expect(code).toBe(1);
    expect(output).toContain('was not ready within 20s (last probe: HTTP 503)');
    expect(output).toContain('blue keeps serving');
    expect(await replicas()).toEqual(before);
    expect(await project.ok(['exec', '-T', 'nginx', 'cat', '/etc/nginx/upstreams/api.conf'])).toBe(
      liveBefore,
    );
    figures.push(
      `never-ready release rolled back: the deploy exited 1 after ${(ms / 1000).toFixed(1)}s (--ready-timeout 20)`,
    );
  });

  it('loses no request when a replica is sent SIGTERM under load', async () => {
    // A SIGTERM from outside the deploy scripts (docker stop by hand, a host shutting down): nginx
    // still routes to the replica while it drains. Requests in flight finish; idempotent ones that
    // meet the closed listener are retried by nginx on the other replica. A POST that meets the
    // listener at the very instant it closes (a connection the kernel had queued, or an idle one
    // the replica closes as nginx writes on it) cannot be retried by nginx, which answers 503
    // with Retry-After: such a POST never reached the app, so it is refused, not lost.
    const ids = await project.containers('api');
    const victim = ids[0]!;
    const load = startDeployLoad(baseUrl, sessions);
    await waitForRequests(load, 200);
    await docker(['kill', '--signal', 'TERM', victim]);
    await eventually(
      () => docker(['inspect', '-f', '{{.State.Running}} {{.State.ExitCode}}', victim]),
      {
        describe: 'the replica to drain and exit',
        timeoutMs: 60_000,
        until: (state) => state.trim() === 'false 0',
      },
    );
    await waitForRequests(load, 200);
    const report = await load.stop();
    const appLogs = (await Promise.all(ids.map((id) => docker(['logs', id])))).join('\n');
    const refused = report.failures.filter(
      (f) =>
        f.method === 'POST' &&
        f.outcome.startsWith('HTTP 503 ') &&
        f.outcome.includes('No API instance could answer'),
    );
    // Lost: an idempotent request that failed, any other failure, or a refused POST the app had
    // in fact received (its request id in a replica's log).
    const lost = report.failures.filter(
      (f) => !refused.includes(f) || appLogs.includes(f.requestId),
    );
    expect(summarizeFailures(lost)).toEqual([]);
    figures.push(
      `SIGTERM to one replica: ${report.sent} requests sent, ${lost.length} lost, ` +
        `${refused.length} POSTs refused by nginx without reaching the app, ` +
        `${report.resets.length} keep-alive re-sends`,
    );
  });

  it('tears down to nothing, volumes included', async () => {
    await project.down();
    expect(await project.leftovers()).toEqual([]);
  });
});
