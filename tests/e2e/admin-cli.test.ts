import { spawn } from 'node:child_process';
import path from 'node:path';
import { eventually } from '../../harness/eventually';
import { request } from '../../harness/http-client';
import { withClient, type Database } from '../../harness/postgres';
import { startApp, type AppProcess } from '../helpers/built-app';
import { migratedDatabase } from '../helpers/e2e-database';

const DIST = path.resolve(__dirname, '../../dist/admin/cli');
const SECRETS = {
  JWT_ACCESS_SECRET: 'e2e-access-secret-0123456789-abcdefghijklmnop',
  JWT_REFRESH_SECRET: 'e2e-refresh-secret-0123456789-abcdefghijklmno',
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a built command as its own process, with `stdin` piped in (as a script would). */
function run(
  script: string,
  args: string[],
  env: Record<string, string>,
  stdin = '',
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(DIST, script), ...args], {
      env: { PATH: process.env.PATH ?? '', ...env },
      cwd: DIST,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('the admin commands against a real PostgreSQL', () => {
  let database: Database;
  let env: Record<string, string>;
  let app: AppProcess;

  beforeAll(async () => {
    database = await migratedDatabase();
    env = { NODE_ENV: 'test', DATABASE_URL: database.url, ...SECRETS };
    app = await startApp({ env: { DATABASE_URL: database.url, ...SECRETS } });
  });
  afterAll(async () => {
    await app?.stop();
    await database?.drop();
  });

  const login = (email: string, password: string) =>
    request(`${app.url}/api/auth/login`, { method: 'POST', json: { email, password } });

  it('admin:create makes a new admin with the password piped on stdin, which can then use the admin API', async () => {
    const created = await run(
      'create-admin.js',
      ['Root@Example.com'],
      env,
      'a long admin passphrase\n',
    );
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('Created the admin root@example.com');
    // The password appears nowhere but where it was piped.
    expect(created.stdout + created.stderr).not.toContain('a long admin passphrase');

    const res = await login('root@example.com', 'a long admin passphrase');
    expect(res.status).toBe(200);
    const { accessToken, user } = res.body as { accessToken: string; user: object };
    expect(user).toMatchObject({ role: 'admin', emailVerified: true });
    const list = await request(`${app.url}/api/admin/users`, {
      headers: { Authorization: `Bearer ${accessToken}` },
    });
    expect(list.status).toBe(200);

    await withClient(database.url, async (client) => {
      const { rows } = await client.query(
        `SELECT type, actor_user_id, data FROM audit_events WHERE subject_user_id = $1 ORDER BY created_at, id`,
        [(user as { id: string }).id],
      );
      // Created by the command (no actor: nobody was signed in), then the sign-in above.
      expect(rows).toEqual([
        { type: 'user.registered', actor_user_id: null, data: { role: 'admin', via: 'cli' } },
        { type: 'signin.succeeded', actor_user_id: (user as { id: string }).id, data: null },
      ]);
    });
  });

  it('admin:create at a terminal asks for the password twice and never echoes it', async () => {
    // `script` gives the command a real terminal (a pty); what the command prints comes back on
    // its stdout, and so would any echo of what is typed.
    const child = spawn(
      'script',
      [
        '-qec',
        `${process.execPath} ${path.join(DIST, 'create-admin.js')} tty@example.com`,
        '/dev/null',
      ],
      { env: { PATH: process.env.PATH ?? '', ...env }, cwd: DIST, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const typed = 'typed at a terminal';
    await eventually(() => output.includes('Password: '), { describe: 'the first prompt' });
    child.stdin.write(`${typed}\r`);
    await eventually(() => output.includes('Repeat it: '), { describe: 'the second prompt' });
    child.stdin.write(`${typed}\r`);
    await eventually(() => output.includes('Created the admin'), {
      describe: 'the command to end',
    });
    child.stdin.end();
    expect(await exited).toBe(0);
    expect(output).not.toContain(typed);
    expect((await login('tty@example.com', typed)).status).toBe(200);
  });

  it('admin:create promotes and enables an existing account without touching its password', async () => {
    const registered = await request(`${app.url}/api/auth/register`, {
      method: 'POST',
      json: { email: 'promote-me@example.com', password: 'users own passphrase' },
    });
    expect(registered.status).toBe(201);
    await withClient(database.url, (client) =>
      client.query(`UPDATE users SET disabled_at = now() WHERE email = 'promote-me@example.com'`),
    );
    const promoted = await run('create-admin.js', ['promote-me@example.com'], env);
    expect(promoted.code).toBe(0);
    expect(promoted.stdout).toContain('is now an enabled admin');
    const res = await login('promote-me@example.com', 'users own passphrase');
    expect(res.status).toBe(200);
    expect((res.body as { user: { role: string } }).user.role).toBe('admin');
  });

  it('admin:create refuses a weak password, a bad email, and a password on the command line', async () => {
    const common = await run('create-admin.js', ['weak@example.com'], env, 'password123\n');
    expect(common.code).toBe(1);
    expect(common.stderr).toContain('PASSWORD_TOO_COMMON');
    const short = await run('create-admin.js', ['weak@example.com'], env, 'short\n');
    expect(short.code).toBe(1);
    expect(short.stderr).toContain('at least 8 characters');
    const argv = await run('create-admin.js', ['weak@example.com', 'a long admin passphrase'], env);
    expect(argv.code).toBe(2);
    expect(argv.stderr).toContain('never from the command line');
    expect((await run('create-admin.js', ['not-an-email'], env)).code).toBe(2);
    await withClient(database.url, async (client) => {
      const { rows } = await client.query(`SELECT 1 FROM users WHERE email = 'weak@example.com'`);
      expect(rows).toEqual([]);
    });
  });

  it('db:seed creates the development admin and user with printed passwords, once; production refuses it', async () => {
    const seeded = await run('seed.js', [], env);
    expect(seeded.code).toBe(0);
    const password = /admin@example\.com {2}password: (\S+)/.exec(seeded.stdout)?.[1];
    expect(password).toEqual(expect.any(String));
    expect(seeded.stdout).toMatch(/created user +user@example\.com {2}password: \S+/);
    const res = await login('admin@example.com', password!);
    expect((res.body as { user: { role: string } }).user.role).toBe('admin');

    const again = await run('seed.js', [], env);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain('password:');

    // A production configuration that loads (mail and links set), so the refusal is the seed's own.
    const production = await run('seed.js', [], {
      ...env,
      NODE_ENV: 'production',
      APP_PUBLIC_URL: 'https://app.example.com',
      MAIL_FROM: 'Example <no-reply@example.com>',
      MAIL_TRANSPORT: 'log',
    });
    expect(production.code).toBe(1);
    expect(production.stderr).toContain('refuses to run in production');
  });
});
