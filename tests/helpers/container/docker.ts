import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../../..');

export interface CommandResult {
  code: number;
  output: string;
  /** How long it ran, in ms. */
  ms: number;
}

/**
 * Runs a command with this process's environment (DOCKER_HOST and the like reach docker); resolves
 * with its exit code and output (stdout then stderr) instead of throwing.
 */
export function run(
  file: string,
  args: readonly string[],
  { env, cwd = ROOT, input }: { env?: NodeJS.ProcessEnv; cwd?: string; input?: string } = {},
): Promise<CommandResult> {
  const start = Date.now();
  return new Promise((resolve) => {
    const child = execFile(
      file,
      args,
      { cwd, env: { ...process.env, ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, output: stdout + stderr, ms: Date.now() - start });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** Runs `docker <args>`; rejects, with its output, unless it exits 0. Resolves with stdout+stderr. */
export async function docker(args: readonly string[], input?: string): Promise<string> {
  const result = await run('docker', args, { input });
  if (result.code !== 0)
    throw new Error(`docker ${args.join(' ')} exited ${result.code}:\n${result.output.trim()}`);
  return result.output;
}

/**
 * What the container tier shares between its files, set by its global setup
 * (tests/helpers/container.global-setup.ts): the run's id (in every project and image name, so two
 * runs on one engine never collide) and the image built once for the run.
 */
export interface ContainerRun {
  id: string;
  /** The image repository: its tags are the releases the tests deploy. */
  repository: string;
  /** Seconds the one `docker build` of the run took. */
  buildSeconds: number;
}

export const RUN_ENV = 'CONTAINER_TIER_RUN';
/** Why the global setup could not prepare the run (no engine, a failed build). */
export const RUN_ERROR_ENV = 'CONTAINER_TIER_ERROR';

/** The run the global setup prepared; throws why it could not, failing the file that asks. */
export function containerRun(): ContainerRun {
  const error = process.env[RUN_ERROR_ENV];
  if (error) throw new Error(error);
  const value = process.env[RUN_ENV];
  if (!value) throw new Error(`${RUN_ENV} is unset: run the container tier through jest's project`);
  return JSON.parse(value) as ContainerRun;
}

/** The compose projects of a run are named `<run id>-<name>`: a prefix teardown can find. */
export const projectPrefix = (runId: string) => `${runId}-`;

/** A Compose project of this run, on one of the repository's compose files. */
export class ComposeProject {
  readonly name: string;
  private readonly files: string[];

  constructor(
    name: string,
    files: string[],
    /** The file compose reads for `${...}` (never the developer's own `.env`). */
    readonly envFile: string,
  ) {
    this.name = `${projectPrefix(containerRun().id)}${name}`;
    this.files = files.map((file) => path.join(ROOT, file));
  }

  args(): string[] {
    return [
      'compose',
      ...this.files.flatMap((file) => ['-f', file]),
      '--env-file',
      this.envFile,
      '-p',
      this.name,
    ];
  }

  /** `docker compose ... <args>`, resolving with the exit code and output. */
  compose(args: readonly string[]): Promise<CommandResult> {
    return run('docker', [...this.args(), ...args]);
  }

  /** Like {@link compose}, but rejects unless it exits 0. */
  async ok(args: readonly string[]): Promise<string> {
    const result = await this.compose(args);
    if (result.code !== 0)
      throw new Error(`docker compose ${args.join(' ')} exited ${result.code}:\n${result.output}`);
    return result.output;
  }

  /** Running containers of a service, by id. */
  async containers(service: string): Promise<string[]> {
    return (await this.ok(['ps', '-q', service])).split('\n').filter(Boolean);
  }

  /** Everything of the project (containers, networks, volumes) that Docker still holds. */
  async leftovers(): Promise<string[]> {
    const label = `label=com.docker.compose.project=${this.name}`;
    const lists = await Promise.all([
      docker(['ps', '-aq', '--filter', label]),
      docker(['volume', 'ls', '-q', '--filter', label]),
      docker(['network', 'ls', '-q', '--filter', label]),
    ]);
    return lists.flatMap((list) => list.split('\n').filter(Boolean));
  }

  /** Stops and removes every container, network and volume of the project. */
  async down(): Promise<void> {
    await this.ok(['down', '--volumes', '--remove-orphans', '--timeout', '5']);
  }
}

/** Writes a dotenv file: one `KEY=value` line each. */
export function writeEnvFile(file: string, vars: Record<string, string>): void {
  writeFileSync(
    file,
    Object.entries(vars)
      .map(([key, value]) => `${key}=${value}`)
      .join('\n') + '\n',
  );
}

/**
 * `.env.prod.example` as the README asks a deployer to fill it in: each CHANGE_ME replaced (the
 * database password in step with DATABASE_URL), then `overrides`.
 */
export function productionEnv(overrides: Record<string, string>): Record<string, string> {
  const password = randomBytes(16).toString('hex');
  const vars: Record<string, string> = {};
  for (const line of readFileSync(path.join(ROOT, '.env.prod.example'), 'utf8').split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!match) continue;
    const [, key, value] = match as unknown as [string, string, string];
    vars[key] = value
      .replace('CHANGE_ME@', `${password}@`)
      .replace(/^CHANGE_ME$/, password)
      .replace(/^CHANGE_ME\w*$/, () => randomBytes(32).toString('hex'));
  }
  return { ...vars, ...overrides };
}

/** Parses the request ids (`rid=`) out of nginx's access log lines. */
export function accessLogRequestIds(log: string): Set<string> {
  return new Set([...log.matchAll(/ rid=(\S+)/g)].map((m) => m[1]!));
}
