import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  cpSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { findBinary } from '../../harness/binaries';
import { prepareNginx } from '../../harness/nginx';
import { removeTempDir } from '../../harness/temp-dirs';

const ROOT = path.resolve(__dirname, '../..');
const run = promisify(execFile);

/** Runs a command; resolves with its exit code and output instead of throwing. */
async function runCommand(file: string, args: string[], cwd = ROOT) {
  try {
    const { stdout, stderr } = await run(file, args, { cwd, env: { PATH: process.env.PATH } });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, output: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

describe('compose files (validated offline by docker-compose config)', () => {
  let dir: string;
  let compose: string;

  beforeAll(() => {
    compose = findBinary('docker-compose');
    // A copy, so a developer's own .env or .env.prod never takes part.
    dir = mkdtempSync(path.join(os.tmpdir(), 'e2e-compose-'));
    for (const file of [
      'docker-compose.yml',
      'docker-compose.prod.yml',
      'docker-compose.db-ports.yml',
    ])
      copyFileSync(path.join(ROOT, file), path.join(dir, file));
    // What the README asks: copy the example, replace every CHANGE_ME.
    writeFileSync(
      path.join(dir, '.env.prod'),
      readFileSync(path.join(ROOT, '.env.prod.example'), 'utf8').replace(/CHANGE_ME\w*/g, () =>
        randomBytes(24).toString('hex'),
      ),
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts docker-compose.yml (development) as it is', async () => {
    const check = await runCommand(compose, ['-f', 'docker-compose.yml', 'config', '-q'], dir);
    expect(check).toEqual({ code: 0, output: '' });
    const { output } = await runCommand(compose, ['-f', 'docker-compose.yml', 'config'], dir);
    // Migrations run once, as their own service, before the API starts.
    expect(output).toContain('condition: service_completed_successfully');
    // Only nginx and the mail catcher's UI are published, on loopback: the API (TRUST_PROXY=1) is
    // reachable through nginx alone, and PostgreSQL and Redis take no host port (the host may
    // run its own).
    expect(output.match(/^ {4}ports:$/gm)).toHaveLength(2);
    expect(output).toMatch(/^ {4}ports:\n {4}- 127\.0\.0\.1:8080:80\/tcp$/m);
    expect(output).toMatch(/^ {4}ports:\n {4}- 127\.0\.0\.1:8025:8025\/tcp$/m);
    expect(output).toMatch(/^ {4}read_only: true$/m);
  });

  it('publishes the development databases on loopback ports with docker-compose.db-ports.yml', async () => {
    const files = ['-f', 'docker-compose.yml', '-f', 'docker-compose.db-ports.yml'];
    const { code, output } = await runCommand(compose, [...files, 'config'], dir);
    expect(code).toBe(0);
    expect(output).toMatch(/- 127\.0\.0\.1:15432:5432\/tcp$/m);
    expect(output).toMatch(/- 127\.0\.0\.1:16379:6379\/tcp$/m);
  });

  it('accepts docker-compose.prod.yml with an .env.prod made from .env.prod.example', async () => {
    const args = ['-f', 'docker-compose.prod.yml', '--env-file', '.env.prod', 'config'];
    expect(await runCommand(compose, [...args, '-q'], dir)).toEqual({ code: 0, output: '' });

    const { output } = await runCommand(compose, args, dir);
    expect(output).toMatch(/^ {6}replicas: 3$/m);
    expect(output).toMatch(/^ {4}stop_grace_period: 30s$/m);
    // nginx is the only published port.
    expect(output.match(/^ {4}ports:$/gm)).toHaveLength(1);
    expect(output).toMatch(/^ {4}ports:\n {4}- 0\.0\.0\.0:80:80\/tcp$/m);
    // The API's root filesystem is read-only; nginx's live upstream list is in its own tmpfs.
    expect(output).toMatch(/^ {4}read_only: true$/m);
    expect(output).toMatch(/^ {4}tmpfs:\n {4}- \/etc\/nginx\/upstreams$/m);
  });

  it('refuses docker-compose.prod.yml without the database password', async () => {
    writeFileSync(path.join(dir, '.env.empty'), '');
    const result = await runCommand(
      compose,
      ['-f', 'docker-compose.prod.yml', '--env-file', '.env.empty', 'config', '-q'],
      dir,
    );
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('set POSTGRES_PASSWORD in .env.prod');
  });
});

describe('the shipped nginx config', () => {
  it('passes nginx -t, with the upstream list written as the deploy scripts write it', async () => {
    const prepared = prepareNginx(8080, { upstreams: ['127.0.0.1:3001', '127.0.0.1:3002'] });
    try {
      const result = await runCommand(findBinary('nginx'), [
        '-t',
        '-p',
        prepared.prefix,
        '-c',
        prepared.conf,
        '-e',
        'stderr',
      ]);
      expect(result.code).toBe(0);
      expect(result.output).toContain('test is successful');
    } finally {
      removeTempDir(prepared.prefix);
    }
  });

  it('marks replicas in the shipped upstream list the way the deploy scripts do', () => {
    const params = /max_fails=\d+ fail_timeout=\d+s/;
    const shipped = readFileSync(path.join(ROOT, 'nginx/upstreams/api.conf'), 'utf8');
    const library = readFileSync(path.join(ROOT, 'scripts/lib/deploy.sh'), 'utf8');
    expect(library.match(params)?.[0]).toBe(shipped.match(params)?.[0]);
  });
});

describe('the deploy scripts', () => {
  const scripts = ['scripts/deploy-rolling.sh', 'scripts/deploy-blue-green.sh'];

  it('pass shellcheck, with the library and drivers they source', async () => {
    const result = await runCommand(findBinary('shellcheck'), [
      '-x',
      ...scripts,
      'scripts/lib/deploy.sh',
      'scripts/lib/deploy-driver-local.sh',
      'scripts/lib/deploy-driver-compose.sh',
      'tests/helpers/e2e/fake-docker.sh',
      'quick-start.sh',
    ]);
    expect(result).toEqual({ code: 0, output: '' });
  });

  it.each(scripts)('%s explains itself with --help and exits 0', async (script) => {
    const result = await runCommand('bash', [script, '--help']);
    expect(result.code).toBe(0);
    expect(result.output).toContain('--driver compose|local');
    expect(result.output).toContain('Exit status: 0 deployed');
  });

  it.each([
    [[], 'expected exactly one <version>, got 0'],
    [['v1'], '--driver is required: local or compose'],
    [['--driver', 'kubernetes', 'v1'], "--driver must be local or compose, got 'kubernetes'"],
    [['--replicas', 'three', 'v1'], '--replicas must be a whole number'],
    [['--frobnicate', 'v1'], 'unknown option: --frobnicate'],
    [['--driver', 'local', '/nonexistent'], "'/nonexistent' is not a directory"],
    [['--driver', 'local', 'scripts'], 'is not a built release: dist/server.js is missing'],
  ])('refuses %j with exit status 2 and the reason, changing nothing', async (args, reason) => {
    const result = await runCommand('bash', ['scripts/deploy-rolling.sh', ...args]);
    expect(result.code).toBe(2);
    expect(result.output).toContain(reason);
  });

  it('refuses a driver that lacks an operation of the contract, naming it, before anything runs', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'e2e-deploy-driver-'));
    try {
      cpSync(path.join(ROOT, 'scripts'), path.join(dir, 'scripts'), { recursive: true });
      appendFileSync(
        path.join(dir, 'scripts/lib/deploy-driver-local.sh'),
        'unset -f local_probe\n',
      );
      const result = await runCommand('bash', [
        path.join(dir, 'scripts/deploy-rolling.sh'),
        '--driver',
        'local',
        '--state-dir',
        path.join(dir, 'state'),
        '.',
      ]);
      expect(result.code).toBe(2);
      expect(result.output).toContain('the local driver');
      expect(result.output).toContain('does not define local_probe:');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('list in scripts/lib/README.md exactly the driver operations that deploy.sh checks for', () => {
    const library = readFileSync(path.join(ROOT, 'scripts/lib/deploy.sh'), 'utf8');
    const checked = /^readonly DRIVER_OPERATIONS=\(([^)]*)\)/m.exec(library)?.[1];
    const readme = readFileSync(path.join(ROOT, 'scripts/lib/README.md'), 'utf8');
    const contract = readme.slice(readme.indexOf('## The driver contract'));
    const documented = [...contract.matchAll(/^\| `(\w+)[ `]/gm)].map((m) => m[1]);
    expect(documented).toEqual(checked?.trim().split(/\s+/));
  });

  it('refuses an env file without DATABASE_URL for local instances', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'e2e-deploy-args-'));
    try {
      writeFileSync(path.join(dir, 'app.env'), 'NODE_ENV=production\n');
      const result = await runCommand('bash', [
        'scripts/deploy-blue-green.sh',
        '--driver',
        'local',
        '--env-file',
        path.join(dir, 'app.env'),
        '--state-dir',
        path.join(dir, 'state'),
        '.',
      ]);
      expect(result.code).toBe(2);
      expect(result.output).toContain('has no DATABASE_URL');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
