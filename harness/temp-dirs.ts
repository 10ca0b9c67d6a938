import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const created = new Set<string>();

/**
 * A new folder in the system's temp folder, removed by {@link removeTempDir} or, at the latest,
 * when this process exits: a data folder may outlive the server that used it (a test restarts a
 * server on the same folder), but not the run.
 */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  if (created.size === 0) process.on('exit', removeAll);
  created.add(dir);
  return dir;
}

/** Removes a folder made by {@link makeTempDir} now. */
export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  created.delete(dir);
  if (created.size === 0) process.off('exit', removeAll);
}

/** Removes every folder made by {@link makeTempDir} that is still there. */
export function removeTempDirs(): void {
  for (const dir of [...created]) removeTempDir(dir);
}

function removeAll(): void {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
  created.clear();
}
