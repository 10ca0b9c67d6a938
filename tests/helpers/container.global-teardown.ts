import { RUN_ENV, docker, projectPrefix, run, type ContainerRun } from './container/docker';

/**
 * Removes whatever the run left on the engine, also after a failed or interrupted test: every
 * compose project named after the run (containers, networks, volumes) and the run's images.
 */
export default async function teardown(): Promise<void> {
  const value = process.env[RUN_ENV];
  if (!value) return;
  const { id, repository } = JSON.parse(value) as ContainerRun;
  const projects = new Set(
    (await docker(['ps', '-a', '--format', '{{.Label "com.docker.compose.project"}}']))
      .split('\n')
      .filter((name) => name.startsWith(projectPrefix(id))),
  );
  for (const project of projects)
    await run('docker', [
      'compose',
      '-p',
      project,
      'down',
      '--volumes',
      '--remove-orphans',
      '-t',
      '5',
    ]);
  const images = (await docker(['images', '-q', repository])).split('\n').filter(Boolean);
  if (images.length > 0) await run('docker', ['rmi', '-f', ...new Set(images)]);
}
