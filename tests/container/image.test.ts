import { containerRun, docker } from '../helpers/container/docker';

/**
 * The image the Dockerfile builds (once per run, in the tier's global setup): only what
 * production runs. Its node_modules was 400 MB (Prisma's CLI and Studio, TypeScript, effect, two
 * PGlite versions) before scripts/prune-production-modules.mjs.
 */
describe('the production image', () => {
  const image = `${containerRun().repository}:v1`;

  it('carries a node_modules under 150 MB', async () => {
    const sizes = await docker([
      'run',
      '--rm',
      '--read-only',
      '--entrypoint',
      'sh',
      image,
      '-c',
      'du -sk /app/node_modules; du -sk /app/node_modules/.pnpm/* | sort -rn | head -n 6',
    ]);
    const [total, ...largest] = sizes.trim().split('\n');
    const megabytes = Number(total!.split(/\s+/)[0]) / 1024;
    const imageBytes = Number(
      (await docker(['image', 'inspect', '-f', '{{.Size}}', image])).trim(),
    );
    console.log(
      `container tier, image: ${(imageBytes / 1e6).toFixed(0)} MB, node_modules ` +
        `${megabytes.toFixed(1)} MB; largest:\n  ${largest
          .map((line) => {
            const [kb, dir] = line.split(/\s+/);
            return `${(Number(kb) / 1024).toFixed(1)} MB ${dir!.split('/').pop()}`;
          })
          .join('\n  ')}`,
    );
    expect(megabytes).toBeLessThan(150);
  });

  it('has none of the development tooling: no Prisma CLI, TypeScript or second PGlite', async () => {
    const listing = await docker([
      'run',
      '--rm',
      '--entrypoint',
      'ls',
      image,
      '/app/node_modules/.pnpm',
    ]);
    const packages = listing.split('\n');
    expect(
      packages.filter((p) => /^(prisma|typescript|effect|@prisma\+studio-core)@/.test(p)),
    ).toEqual([]);
    expect(packages.filter((p) => p.startsWith('@electric-sql+pglite@'))).toHaveLength(1);
  });

  it('runs the migration CLI and the cluster entry from the pruned modules', async () => {
    // Both load every module they need before they read their configuration, which then refuses
    // to run without DATABASE_URL in production: a missing module would fail before that.
    for (const entry of ['dist/db/cli/migrate.js', 'dist/cluster.js', 'dist/server.js']) {
      const result = await docker(['run', '--rm', '--read-only', image, 'node', entry]).catch(
        (error: Error) => error.message,
      );
      expect(result).toContain('is required in production');
      expect(result).not.toMatch(/Cannot find module|MODULE_NOT_FOUND/);
    }
  });
});
