import { readFileSync } from 'node:fs';
import path from 'node:path';
import { request } from '../../harness/http-client';
import { startApp } from '../helpers/built-app';

describe('the built server on embedded defaults (no DATABASE_URL, no REDIS_URL, no secrets)', () => {
  it('starts, migrates its embedded database once, and keeps data and secrets across a restart', async () => {
    const first = await startApp();
    expect((await request(`${first.url}/health/live`)).status).toBe(200);
    const logs = first.logs();
    expect(logs).toContainEqual(
      expect.objectContaining({
        level: 'warn',
        msg: expect.stringContaining('JWT secrets not set'),
      }),
    );
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'applied migrations' }));
    const secrets = readFileSync(path.join(first.dataDir, 'dev-secrets.json'), 'utf8');
    expect(await first.stop('SIGTERM')).toBe(0);

    const second = await startApp({ env: { DATA_DIR: first.dataDir } });
    expect((await request(`${second.url}/health/ready`)).status).toBe(200);
    // The migration history persisted, so nothing is applied again; the secrets are the same.
    expect(second.logs().filter((line) => line.msg === 'applied migrations')).toEqual([]);
    expect(readFileSync(path.join(first.dataDir, 'dev-secrets.json'), 'utf8')).toBe(secrets);

    // A second process on the same embedded database fails clearly instead of corrupting it.
    const intruder = await startApp({ env: { DATA_DIR: first.dataDir }, waitFor: false });
    expect(await intruder.exited).toBe(1);
    expect(intruder.output()).toContain('is in use by process');
    expect(await second.stop('SIGTERM')).toBe(0);
  });
});
