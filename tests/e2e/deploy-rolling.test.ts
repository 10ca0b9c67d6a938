import path from 'node:path';
import {
  isRunning,
  liveInstances,
  deployUnderLoad,
  registerSessions,
  resetsThatReachedNginx,
  startDeployEnvironment,
  type DeployEnvironment,
  type DeployedInstance,
  type Session,
} from '../helpers/deploy-environment';
import { request } from '../../harness/http-client';
import { summarizeFailures } from '../../harness/load-generator';

describe('scripts/deploy-rolling.sh --driver local, under load through the shipped nginx', () => {
  let env: DeployEnvironment;
  let releaseA: string;
  let releaseB: string;
  let sessions: Session[];
  let untouched: Session;

  beforeAll(async () => {
    env = await startDeployEnvironment();
    releaseA = env.release('release-a');
    releaseB = env.release('release-b');
    // The first deploy starts from nothing: migrations, then three instances one by one.
    const first = await env.deploy('rolling', releaseA);
    if (first.code !== 0) throw new Error(`the first deploy failed:\n${first.output}`);
    sessions = await registerSessions(env.nginx.url, 4, 'rolling-load');
    [untouched] = (await registerSessions(env.nginx.url, 1, 'rolling-idle')) as [Session];
  });
  afterAll(async () => {
    await env?.destroy();
  });

  /** No request reached an old instance after it was told to shut down. */
  function expectNoRequestAfterSigterm(instance: DeployedInstance) {
    const logs = env.instanceLogs(instance.name);
    const shutdownAt = logs.findIndex((line) => line.msg === 'shutting down');
    expect(shutdownAt).toBeGreaterThan(-1);
    expect(logs.slice(shutdownAt).filter((line) => line.msg === 'request')).toEqual([]);
    // Its last line: logs are written synchronously, so none is reordered or lost at exit.
    expect(logs.at(-1)).toMatchObject({ msg: 'shutdown complete' });
  }

  it('replaces every instance with zero failed requests, and tokens issued before still work', async () => {
    const before = env.instances();
    expect(before).toHaveLength(3);

    const { run, report, accessLogMark } = await deployUnderLoad(
      env,
      'rolling',
      releaseB,
      sessions,
    );
    console.log(
      `rolling deploy under load: ${report.sent} requests (${JSON.stringify(report.byPath)}), ` +
        `${report.failures.length} failed, ${report.resets.length} reload resets retried, ` +
        `${Math.round((report.sent * 1000) / report.durationMs)} req/s over ${report.durationMs} ms`,
    );
    expect(run.code).toBe(0);
    expect(summarizeFailures(report.failures)).toEqual([]);
    expect(resetsThatReachedNginx(env, report)).toEqual([]);

    const after = env.instances();
    expect(after).toHaveLength(3);
    for (const instance of after) {
      expect(instance.version).toBe(releaseB);
      expect(isRunning(instance.pid)).toBe(true);
    }
    expect(after.map((i) => i.pid)).toEqual(expect.not.arrayContaining(before.map((i) => i.pid)));
    for (const old of before) {
      expect(isRunning(old.pid)).toBe(false);
      expect(run.output).toContain(`stopped ${old.name}: drained, shutdown complete`);
      expectNoRequestAfterSigterm(old);
    }
    // Only the new instances are running, and nginx sends traffic to them alone.
    expect(
      liveInstances(env.stateDir)
        .map((i) => i.pid)
        .sort(),
    ).toEqual(after.map((i) => i.pid).sort());
    const newAddresses = after.map((i) => i.address);
    const latest = env.nginx.accessLog().slice(accessLogMark);
    expect(latest.length).toBeGreaterThan(0);
    for (const entry of latest) expect(newAddresses).toContain(entry.upstreams[0]);

    // Secrets are shared by every release: a session from before the deploy goes on.
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

  it('rolls a release that fails midway back to the previous version, with zero failed requests', async () => {
    // The first instance of this release starts; every later one exits at once.
    const flaky = env.release(
      'release-flaky',
      `const fs = require('node:fs');
const marker = ${JSON.stringify(path.join(env.tmp, 'flaky-started'))};
if (fs.existsSync(marker)) process.exit(3);
fs.writeFileSync(marker, String(process.pid));
void require(${JSON.stringify(`${releaseB}/dist/server.js`)}).main();
`,
    );
    const before = env.instances();

    const { run, report } = await deployUnderLoad(env, 'rolling', flaky, sessions);
    console.log(
      `rolling deploy rolled back midway: ${report.sent} requests, ${report.failures.length} failed, ` +
        `${report.resets.length} reload resets retried`,
    );
    expect(run.code).toBe(1);
    expect(run.output).toMatch(/exited \(status 3\) before it was ready; rolled back/);
    expect(summarizeFailures(report.failures)).toEqual([]);
    expect(resetsThatReachedNginx(env, report)).toEqual([]);

    // Three instances of the previous release again: two untouched, one restarted in place of
    // the flaky instance that had been swapped in; no flaky instance is left running.
    const after = env.instances();
    expect(after).toHaveLength(3);
    for (const instance of after) expect(instance.version).toBe(releaseB);
    expect(after.filter((i) => before.some((b) => b.pid === i.pid))).toHaveLength(2);
    expect(
      liveInstances(env.stateDir)
        .map((i) => i.pid)
        .sort(),
    ).toEqual(after.map((i) => i.pid).sort());
    expect(after.map((i) => i.address).sort((a, b) => a.localeCompare(b))).toEqual(
      [...env.nginx.upstreamAddresses()].sort((a, b) => a.localeCompare(b)),
    );
  });
});
