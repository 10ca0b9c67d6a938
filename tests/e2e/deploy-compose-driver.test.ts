import { execFile } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const FAKE_DOCKER = path.resolve(__dirname, '../helpers/e2e/fake-docker.sh');

/**
 * The compose driver, run against a fake docker CLI (tests/helpers/e2e/fake-docker.sh): the order
 * of the docker commands it issues, checked without an engine. The container tier
 * (tests/container/prod-stack.test.ts) runs the same driver on a real engine, under load.
 */
describe('scripts/deploy-*.sh --driver compose, against a fake docker CLI', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'e2e-compose-driver-'));
    copyFileSync(
      path.join(ROOT, 'docker-compose.prod.yml'),
      path.join(dir, 'docker-compose.prod.yml'),
    );
    copyFileSync(path.join(ROOT, '.env.prod.example'), path.join(dir, '.env.prod'));
    cpSync(path.join(ROOT, 'nginx'), path.join(dir, 'nginx'), { recursive: true });
    const shipped = path.join(dir, 'nginx/upstreams/api.conf');
    mkdirSync(path.join(dir, 'bin'));
    copyFileSync(FAKE_DOCKER, path.join(dir, 'bin', 'docker'));
    mkdirSync(path.join(dir, 'docker'));
    // Three replicas of v1 run.
    writeFileSync(
      path.join(dir, 'docker', 'containers'),
      [1, 2, 3].map((n) => `c${n} proj-api-${n} express-template:v1 true\n`).join(''),
    );
    writeFileSync(path.join(dir, 'docker', 'seq'), '3\n');
    // What the nginx container starts with: the shipped list.
    copyFileSync(shipped, path.join(dir, 'docker', 'upstreams'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function deploy(strategy: string, extraEnv: Record<string, string> = {}, args: string[] = []) {
    return new Promise<{ code: number; output: string }>((resolve) => {
      execFile(
        'bash',
        [
          path.join(ROOT, 'scripts', `deploy-${strategy}.sh`),
          '--driver',
          'compose',
          '--compose-file',
          path.join(dir, 'docker-compose.prod.yml'),
          '--env-file',
          path.join(dir, '.env.prod'),
          '--state-dir',
          path.join(dir, '.deploy'),
          ...args,
          'v2',
        ],
        {
          env: {
            PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`,
            FAKE_DOCKER_STATE: path.join(dir, 'docker'),
            ...extraEnv,
          },
        },
        (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr }),
      );
    });
  }

  /** The docker commands that change something, in order, as short tokens. */
  function actions(): string[] {
    return readFileSync(path.join(dir, 'docker', 'calls'), 'utf8')
      .split('\n')
      .flatMap((call) => {
        const version = /^API_VERSION=(\S+) /.exec(call)?.[1];
        if (/ run --rm -T migrate$/.test(call)) return [`migrate ${version}`];
        const scale = / up -d --no-deps --no-recreate --scale api=(\d+) api$/.exec(call);
        if (scale) return [`scale ${scale[1]} ${version}`];
        if (/ exec -T nginx nginx -e stderr -t$/.test(call)) return ['nginx -t'];
        if (/ exec -T nginx nginx -e stderr -s reload$/.test(call)) return ['reload'];
        const stop = /^stop -t 30 (.+)$/.exec(call);
        if (stop) return [`stop ${stop[1]}`];
        const rm = /^rm (\S+)$/.exec(call);
        return rm ? [`rm ${rm[1]}`] : [];
      });
  }

  const upstreams = () =>
    [
      ...readFileSync(path.join(dir, 'docker', 'upstreams'), 'utf8').matchAll(/^server (\S+)/gm),
    ].map((m) => m[1]);
  const containers = () => readFileSync(path.join(dir, 'docker', 'containers'), 'utf8');

  it('rolling: migrates once, then per replica scales up by one, reloads nginx, and only then stops the old container', async () => {
    const run = await deploy('rolling');
    expect(run.code).toBe(0);
    expect(actions()).toEqual([
      'nginx -t', // pre-flight
      'migrate v2',
      ...[1, 2, 3].flatMap((n) => ['scale 4 v2', 'nginx -t', 'reload', `stop c${n}`, `rm c${n}`]),
    ]);
    expect(upstreams()).toEqual(['proj-api-4:3001', 'proj-api-5:3001', 'proj-api-6:3001']);
    expect(containers()).toBe(
      [4, 5, 6].map((n) => `c${n} proj-api-${n} express-template:v2 true\n`).join(''),
    );
    expect(run.output).toContain('set API_VERSION=v2 in');
    // The list lives in the nginx container: the files beside the compose file are never written.
    expect(readFileSync(path.join(dir, 'nginx/upstreams/api.conf'), 'utf8')).toBe(
      readFileSync(path.join(ROOT, 'nginx/upstreams/api.conf'), 'utf8'),
    );
  });

  it('blue-green: starts the whole green set, switches nginx in one reload, then stops blue', async () => {
    const run = await deploy('blue-green');
    expect(run.code).toBe(0);
    expect(actions()).toEqual([
      'nginx -t',
      'migrate v2',
      'scale 6 v2',
      'nginx -t',
      'reload',
      'stop c1 c2 c3',
      'rm c1',
      'rm c2',
      'rm c3',
    ]);
    expect(upstreams()).toEqual(['proj-api-4:3001', 'proj-api-5:3001', 'proj-api-6:3001']);
  });

  it('blue-green: removes a green set that never gets ready without touching nginx', async () => {
    const shipped = readFileSync(path.join(dir, 'docker', 'upstreams'), 'utf8');
    const run = await deploy('blue-green', { FAKE_DOCKER_NOT_READY: '1' }, [
      '--ready-timeout',
      '2',
    ]);
    expect(run.code).toBe(1);
    expect(run.output).toContain('the green set never became ready');
    expect(actions()).toEqual([
      'nginx -t',
      'migrate v2',
      'scale 6 v2',
      'stop c4 c5 c6',
      'rm c4',
      'rm c5',
      'rm c6',
    ]);
    expect(readFileSync(path.join(dir, 'docker', 'upstreams'), 'utf8')).toBe(shipped);
    expect(containers()).toBe(
      [1, 2, 3].map((n) => `c${n} proj-api-${n} express-template:v1 true\n`).join(''),
    );
  });
});
