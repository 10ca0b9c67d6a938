import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const POSTGRES_HINT =
  'the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql@17)';
const INSTALL_HINT: Record<string, string> = {
  nginx: 'nginx (Debian/Ubuntu: apt-get install nginx; macOS: brew install nginx)',
  'redis-server': 'Redis (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)',
  'redis-sentinel':
    'Redis Sentinel (Debian/Ubuntu: apt-get install redis-sentinel; macOS: brew install redis)',
  pgbouncer: 'PgBouncer (Debian/Ubuntu: apt-get install pgbouncer; macOS: brew install pgbouncer)',
  pg_basebackup: POSTGRES_HINT,
  kubectl:
    "kubectl with its built-in kustomize (not in Debian's archive: install it from the Kubernetes project's own packages; GitHub-hosted Ubuntu runners have it)",
  initdb: POSTGRES_HINT,
  pg_ctl: POSTGRES_HINT,
  'docker-compose':
    'Docker Compose, which validates compose files without a Docker engine (Debian/Ubuntu: apt-get install docker-compose)',
  shellcheck:
    'ShellCheck (Debian/Ubuntu: apt-get install shellcheck; macOS: brew install shellcheck)',
  chromium:
    'Chromium, the browser the e2e tier drives (Debian: apt-get install chromium; Ubuntu: the chromium snap or Google Chrome, then set CHROMIUM_PATH)',
};

/**
 * The absolute path of a system binary the e2e tier or the bench needs. A missing binary fails
 * with how to install it (or run scripts/install-system-deps.sh): the e2e tier never skips
 * silently, and the bench says what it skipped.
 */
export function findBinary(name: string): string {
  const candidates = [
    ...(process.env.PATH ?? '').split(path.delimiter),
    '/usr/sbin',
    '/usr/local/sbin',
  ];
  // Debian keeps the PostgreSQL server binaries off PATH, in a versioned folder.
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((version) => `/usr/lib/postgresql/${version}/bin`));
  }
  for (const dir of candidates) {
    const file = path.join(dir, name);
    if (dir && existsSync(file)) return file;
  }
  throw new Error(
    `\`${name}\` is needed but not installed. Install ${INSTALL_HINT[name] ?? name}, ` +
      'or run scripts/install-system-deps.sh as root.',
  );
}

/** Whether this process runs as root (PostgreSQL's initdb refuses to). */
export const isRoot = () => process.getuid?.() === 0;

/** Runs a command synchronously, as the `postgres` user when we are root; returns its stdout. */
export function runAsPostgresUser(
  command: string,
  args: string[],
  options: { cwd?: string } = {},
): string {
  const [file, argv] = isRoot()
    ? ['runuser', ['-u', 'postgres', '--', command, ...args]]
    : [command, args];
  return execFileSync(file, argv, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    ...options,
  });
}
