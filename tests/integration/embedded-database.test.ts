import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openEmbeddedPostgres } from '../../src/db/embedded-database';
import { pgliteTemplateDir } from '../helpers/pglite-template';

let root: string;
let dataDir: string;
beforeEach(() => {
  root = mkdtempSync(path.join(os.tmpdir(), 'embedded-db-'));
  dataDir = path.join(root, 'pglite');
  cpSync(pgliteTemplateDir(), dataDir, { recursive: true });
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('embedded database', () => {
  it('keeps data across close and reopen', async () => {
    const first = await openEmbeddedPostgres({ dataDir });
    await first.pglite.query(
      `INSERT INTO users (id, email, password_hash, updated_at) VALUES ('0192d7a0-0000-7000-8000-000000000001', 'kept@example.com', 'x', now())`,
    );
    await first.close();
    const second = await openEmbeddedPostgres({ dataDir });
    const { rows } = await second.pglite.query<{ email: string }>('SELECT email FROM users');
    await second.close();
    expect(rows).toEqual([{ email: 'kept@example.com' }]);
  });

  it('refuses a second opener of the same folder, naming the holder, instead of corrupting it', async () => {
    const holder = await openEmbeddedPostgres({ dataDir });
    try {
      await expect(openEmbeddedPostgres({ dataDir, lockWaitMs: 300 })).rejects.toThrow(
        new RegExp(`in use by process ${process.pid} on .*Only one process can open it`),
      );
    } finally {
      await holder.close();
    }
    expect(existsSync(`${dataDir}.lock`)).toBe(false);
  });

  it('waits for the holder to release the folder (a dev-server restart)', async () => {
    const holder = await openEmbeddedPostgres({ dataDir });
    setTimeout(() => void holder.close(), 200);
    // A bound on a hang only: the holder lets go after 200 ms, however busy the machine.
    const next = await openEmbeddedPostgres({ dataDir, lockWaitMs: 30_000 });
    await next.close();
  });

  it('takes over a lock left by a process that no longer exists', async () => {
    writeFileSync(
      `${dataDir}.lock`,
      JSON.stringify({ pid: 2 ** 22 + 12345, hostname: os.hostname() }),
    );
    const db = await openEmbeddedPostgres({ dataDir, lockWaitMs: 0 });
    expect(JSON.parse(readFileSync(`${dataDir}.lock`, 'utf8'))).toMatchObject({ pid: process.pid });
    await db.close();
  });
});
