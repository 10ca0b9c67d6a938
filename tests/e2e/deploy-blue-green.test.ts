import { readFileSync } from 'node:fs';
import {
  isRunning,
  liveInstances,
  deployUnderLoad,
  registerSessions,
  resetsThatReachedNginx,
  startDeployEnvironment,
  type DeployEnvironment,
  type Session,
} from '../helpers/deploy-environment';
import { request } from '../../harness/http-client';
import { summarizeFailures } from '../../harness/load-generator';

describe('scripts/deploy-blue-green.sh --driver local, under load through the shipped nginx', () => {
  let env: DeployEnvironment;
  let releaseA: string;
  let releaseB: string;
  let sessions: Session[];
  let untouched: Session;

  beforeAll(async () => {
    env = await startDeployEnvironment();
    releaseA = env.release('release-a');
    releaseB = env.release('release-b');
    // The first deploy has no blue set: migrations, a green set of three, the switch.
    const first = await env.deploy('blue-green', releaseA);
    if (first.code !== 0) throw new Error(`the first deploy failed:\n${first.output}`);
    sessions = await registerSessions(env.nginx.url, 4, 'blue-green-load');
    [untouched] = (await registerSessions(env.nginx.url, 1, 'blue-green-idle')) as [Session];
  });
  afterAll(async () => {
    await env?.destroy();
  });

  it('switches to a whole new set with zero failed requests, and tokens issued before still work', async () => {
    const blue = env.instances();
    expect(blue).toHaveLength(3);

    const { run, report, accessLogMark } = await deployUnderLoad(
      env,
      'blue-green',
      releaseB,
      sessions,
    );
    console.log(
      `blue-green deploy under load: ${report.sent} requests (${JSON.stringify(report.byPath)}), ` +
        `${report.failures.length} failed, ${report.resets.length} reload resets retried, ` +
        `${Math.round((report.sent * 1000) / report.durationMs)} req/s over ${report.durationMs} ms`,
    );
    expect(run.code).toBe(0);
    expect(summarizeFailures(report.failures)).toEqual([]);
    expect(resetsThatReachedNginx(env, report)).toEqual([]);

    const green = env.instances();
    expect(green).toHaveLength(3);
    for (const instance of green) expect(instance.version).toBe(releaseB);
    expect(green.map((i) => i.pid)).toEqual(expect.not.arrayContaining(blue.map((i) => i.pid)));
    for (const old of blue) {
      expect(isRunning(old.pid)).toBe(false);
      expect(run.output).toContain(`stopped ${old.name}: drained, shutdown complete`);
      // Out of nginx's list before SIGTERM: no request reached it once it began shutting down.
      const logs = env.instanceLogs(old.name);
      const shutdownAt = logs.findIndex((line) => line.msg === 'shutting down');
      expect(shutdownAt).toBeGreaterThan(-1);
      expect(logs.slice(shutdownAt).filter((line) => line.msg === 'request')).toEqual([]);
    }
    expect(
      liveInstances(env.stateDir)
        .map((i) => i.pid)
        .sort(),
    ).toEqual(green.map((i) => i.pid).sort());
    const greenAddresses = green.map((i) => i.address);
    for (const entry of env.nginx.accessLog().slice(accessLogMark))
      expect(greenAddresses).toContain(entry.upstreams[0]);
    // Every green instance takes traffic once switched (least_conn over the new set).
    for (const address of greenAddresses)
      expect(
        env.nginx.accessLog().filter((entry) => entry.upstreams[0] === address).length,
      ).toBeGreaterThan(0);

    const me = await request(`${env.nginx.url}/api/auth/me`, {
      headers: { Authorization: `Bearer ${untouched.accessToken}` },
    });
    expect(me.status).toBe(200);
    const refreshed = await request(`${env.nginx.url}/api/auth/refresh`, {
      method: 'POST',
      json: { refreshToken: untouched.refreshToken },
    });
    expect(refreshed.status).toBe(200);
  });

  it('rolls back a green set that never becomes ready: blue keeps serving, untouched, with zero failed requests', async () => {
    // The real server, pointed at a database that does not answer: it listens, and
    // /health/ready answers 503 for as long as it runs.
    const broken = env.release(
      'release-never-ready',
      `process.env.DATABASE_URL = 'postgresql://nobody@127.0.0.1:9/unreachable';
void require(${JSON.stringify(`${releaseB}/dist/server.js`)}).main();
`,
    );
    const blue = env.instances();
    const upstreamsBefore = readFileSync(env.nginx.upstreamsFile, 'utf8');

    // Long enough for the never-ready server to be listening (answering 503) by the end, even on
    // a busy machine where it takes seconds to start: the last probe then shows why it failed.
    const { run, report } = await deployUnderLoad(env, 'blue-green', broken, sessions, [
      '--ready-timeout',
      '20',
    ]);
    console.log(
      `blue-green rollback under load: ${report.sent} requests, ${report.failures.length} failed, ` +
        `${report.resets.length} reload resets retried`,
    );
    expect(run.code).toBe(1);
    expect(run.output).toContain('was not ready within 20s (last probe: HTTP 503)');
    expect(run.output).toContain('the green set never became ready');
    expect(summarizeFailures(report.failures)).toEqual([]);
    // nginx was never reloaded: no connection was reset.
    expect(summarizeFailures(report.resets)).toEqual([]);

    // Blue, untouched: the same processes, the same upstream list, byte for byte.
    expect(env.instances()).toEqual(blue);
    for (const instance of blue) expect(isRunning(instance.pid)).toBe(true);
    expect(readFileSync(env.nginx.upstreamsFile, 'utf8')).toBe(upstreamsBefore);
    // The green instances were stopped, not left behind.
    expect(
      liveInstances(env.stateDir)
        .map((i) => i.pid)
        .sort(),
    ).toEqual(blue.map((i) => i.pid).sort());
  });
});
