import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, RUN_ENV, RUN_ERROR_ENV, docker, run, type ContainerRun } from './container/docker';

/** What to do when no engine answers: the tier fails with this, it never skips itself. */
export const NO_ENGINE = `The container tier needs a Docker engine with the compose plugin (v2), and none answers.
- On a machine with Docker: install Docker Engine and its compose plugin
  (https://docs.docker.com/engine/install/), start it, and make sure 'docker info' works for you.
- On a machine that reaches no image registry (this template's CI): run
  ../shared/docker-offline/engine.sh up .   (from the clone; ./quick-start.sh test does it itself)
  which installs Debian's docker.io, starts it and builds stand-ins for the base images.
Then run the tier again: pnpm test:container.`;

/**
 * The container tier's one image build: `docker build` of the repository's Dockerfile, exactly as
 * a deployer runs it, tagged as the releases the tests deploy:
 * - `v1`, `v2`: the image as built (two tags, so a deploy changes the version);
 * - `crash`: exits 3 as it starts, as a release with a broken config or a missing module would;
 * - `never-ready`: runs, answers `/health/live`, but its database is unreachable, so
 *   `/health/ready` stays 503.
 * Each file of the tier starts its own compose projects, named after the run id.
 */
export default async function setup(): Promise<void> {
  try {
    process.env[RUN_ENV] = JSON.stringify(await prepare());
  } catch (error) {
    // Each file of the tier then fails with this (see containerRun), while the other tiers of the
    // same jest run still run: a missing engine fails the container tier, not every tier.
    process.env[RUN_ERROR_ENV] = (error as Error).message;
  }
}

/**
 * docker-compose.yml's mail catcher (Mailpit): pulled when a registry answers; otherwise, on an
 * engine that reaches none (this template's CI), a stand-in is built under the same name from
 * maildev (see mailpit-stand-in.Dockerfile), as ../shared/docker-offline does for postgres, redis
 * and nginx. Either way, the dev stack's test then finds the image and needs no registry.
 */
async function ensureMailCatcherImage(): Promise<void> {
  const compose = readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8');
  const image = /^\s*image:\s*(axllent\/mailpit:\S+)\s*$/m.exec(compose)?.[1];
  if (!image) throw new Error('docker-compose.yml names no axllent/mailpit image');
  if ((await run('docker', ['image', 'inspect', image])).code === 0) return;
  if ((await run('docker', ['pull', image])).code === 0) return;
  const { devDependencies } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  const dockerfile = path.join(__dirname, 'container', 'mailpit-stand-in.Dockerfile');
  const build = await run('docker', [
    ...['build', '-q', '-t', image, '-f', dockerfile],
    ...['--build-arg', `MAILDEV_VERSION=${devDependencies.maildev}`],
    path.dirname(dockerfile),
  ]);
  if (build.code !== 0)
    throw new Error(`building the stand-in for ${image} failed:\n${build.output.slice(-4000)}`);
  console.log(
    `\ncontainer tier: ${image} is absent and cannot be pulled; built a maildev stand-in`,
  );
}

async function prepare(): Promise<ContainerRun> {
  const info = await run('docker', ['info', '--format', '{{.ServerVersion}}']);
  const compose = await run('docker', ['compose', 'version', '--short']);
  if (info.code !== 0 || compose.code !== 0)
    throw new Error(`${NO_ENGINE}\n\n${info.output.trim()}\n${compose.output.trim()}`);

  await ensureMailCatcherImage();

  const id = `ct${process.pid}${randomBytes(3).toString('hex')}`;
  const repository = `express-template-${id}`;
  // Recorded before the build, so the global teardown removes whatever of it exists.
  process.env[RUN_ENV] = JSON.stringify({ id, repository, buildSeconds: 0 });
  const build = await run('docker', ['build', '-t', `${repository}:v1`, '.']);
  if (build.code !== 0)
    throw new Error(`docker build failed (exit ${build.code}):\n${build.output.slice(-4000)}`);
  await docker(['tag', `${repository}:v1`, `${repository}:v2`]);
  const derived = (tag: string, lines: string) =>
    docker(['build', '-q', '-t', `${repository}:${tag}`, '-'], `FROM ${repository}:v1\n${lines}\n`);
  await derived(
    'crash',
    `CMD ["node", "-e", "console.error('crashing at start'); process.exit(3)"]`,
  );
  await derived(
    'never-ready',
    // The server itself, with a database address nothing listens on (set in the command, since
    // the compose file's env_file would override the image's ENV).
    `CMD ["sh", "-c", "DATABASE_URL=postgresql://app:app@127.0.0.1:9/app exec node dist/server.js"]`,
  );

  const buildSeconds = Math.round(build.ms / 1000);
  console.log(
    `\ncontainer tier: engine ${info.output.trim()}, compose ${compose.output.trim()}; ` +
      `built ${repository}:v1 in ${buildSeconds}s`,
  );
  return { id, repository, buildSeconds };
}
