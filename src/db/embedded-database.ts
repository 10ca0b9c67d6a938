import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { PGlite } from '@electric-sql/pglite';
import type { SqlDriverAdapter } from '@prisma/driver-adapter-utils';
import { PrismaPGlite } from 'pglite-prisma-adapter';

/**
 * The embedded database: PostgreSQL compiled to WebAssembly (PGlite), running inside this
 * process and persisted to a folder. It lets a fresh clone run with no server installed.
 *
 * PGlite has no locking of its own: two processes opening one folder both succeed and then
 * overwrite each other's files. {@link openEmbeddedPostgres} therefore takes an exclusive lock
 * file first, so a second `pnpm dev`, or a cluster worker, fails with an explanation instead of
 * corrupting the data.
 */

/** An open embedded database. */
export interface EmbeddedPostgres {
  readonly pglite: PGlite;
  /** A Prisma driver adapter factory over this database (migration-aware). */
  readonly adapterFactory: PrismaPGlite;
  close(): Promise<void>;
}

export interface OpenEmbeddedOptions {
  /** The folder holding the data; created on first use. */
  dataDir: string;
  /** How long to wait for another process to release the folder (e.g. a `tsx watch` restart). */
  lockWaitMs?: number;
}

/** Opens (creating on first use) the embedded database in `dataDir`. */
export async function openEmbeddedPostgres({
  dataDir,
  lockWaitMs = 5_000,
}: OpenEmbeddedOptions): Promise<EmbeddedPostgres> {
  const releaseLock = await acquireLock(`${dataDir}.lock`, lockWaitMs);
  try {
    mkdirSync(dataDir, { recursive: true });
    const pglite = new PGlite(dataDir);
    await pglite.waitReady;
    let closed = false;
    return {
      pglite,
      adapterFactory: new PGliteAdapterFactory(pglite),
      async close() {
        if (closed) return;
        closed = true;
        try {
          await pglite.close();
        } finally {
          releaseLock();
        }
      },
    };
  } catch (error) {
    releaseLock();
    throw error;
  }
}

/**
 * The PGlite driver adapter factory, with one fix: the upstream `executeScript` (which the
 * migration engine uses to run a migration's SQL) starts the script without awaiting it, so a
 * failing migration would be recorded as applied and its error surface later as an unhandled
 * rejection.
 */
export class PGliteAdapterFactory extends PrismaPGlite {
  /**
   * @param shadow the database the migration engine may use as its scratch "shadow" database;
   *   by default a new in-memory PGlite per use.
   */
  constructor(
    private readonly pglite: PGlite,
    private readonly shadow?: PGlite,
  ) {
    super(pglite);
  }

  override async connectToShadowDb(): Promise<SqlDriverAdapter> {
    return this.shadow
      ? new PGliteAdapterFactory(this.shadow).connect()
      : super.connectToShadowDb();
  }

  override async connect(): Promise<SqlDriverAdapter> {
    const adapter = await super.connect();
    const { pglite } = this;
    adapter.executeScript = async (script: string) => {
      try {
        await pglite.exec(script);
      } catch (error) {
        // The adapter's own translation into a DriverAdapterError, which the engine reports.
        (adapter as unknown as { onError(error: unknown): never }).onError(error);
      }
    };
    return adapter;
  }
}

/** Holder recorded in a lock file, to tell a live owner from a stale lock. */
interface LockOwner {
  pid: number;
  hostname: string;
}

/** Lock files held by this process, so a second open here waits like any other process. */
const heldLocks = new Set<string>();

async function acquireLock(file: string, waitMs: number): Promise<() => void> {
  const me: LockOwner = { pid: process.pid, hostname: os.hostname() };
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = readOwner(file);
    if (owner && !heldLocks.has(file) && isStale(owner, me)) {
      rmSync(file, { force: true });
      continue;
    }
    if (Date.now() >= deadline) {
      const who = owner ? `process ${owner.pid} on ${owner.hostname}` : 'another process';
      throw new Error(
        `The embedded database ${file.replace(/\.lock$/, '')} is in use by ${who}. ` +
          'Only one process can open it: stop the other one, or set DATABASE_URL to a PostgreSQL ' +
          'server to run several processes. If no other process is running, delete ' +
          `${file}.`,
      );
    }
    await sleep(100);
  }
  heldLocks.add(file);
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    heldLocks.delete(file);
    process.off('exit', release);
    rmSync(file, { force: true });
  };
  // A crash that skips close() must not leave the folder locked for the next start.
  process.on('exit', release);
  return release;
}

function readOwner(file: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
    return typeof owner.pid === 'number' && typeof owner.hostname === 'string'
      ? { pid: owner.pid, hostname: owner.hostname }
      : undefined;
  } catch {
    // Unreadable or half-written: treat as held; the owner is mid-write or the deadline decides.
    return undefined;
  }
}

function isStale(owner: LockOwner, me: LockOwner): boolean {
  // On another host (a shared volume) liveness cannot be checked: never steal.
  if (owner.hostname !== me.hostname) return false;
  // Our own pid in a lock this process does not hold: a previous container or boot that
  // reused the pid.
  if (owner.pid === me.pid) return true;
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
