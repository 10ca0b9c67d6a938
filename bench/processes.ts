import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** A process the bench started; its output goes to its own log file. */
export interface Started {
  name: string;
  child: ChildProcess;
  logFile: string;
  exited: Promise<number | string>;
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string;
}

const started = new Set<Started>();

/**
 * Starts `command` in a process group of its own (so a cluster's workers stop with their primary,
 * and Ctrl-C reaches only the harness, which then stops everything in order), with stdout and
 * stderr written straight to `logFile`: the harness never spends its own CPU relaying logs.
 */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  { env, cwd, logFile }: { env: NodeJS.ProcessEnv; cwd: string; logFile: string },
): Started {
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { cwd, env, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (error) => resolve(error.message));
  });
  const entry: Started = {
    name,
    child,
    logFile,
    exited,
    tail: (lines = 20) =>
      readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n'),
  };
  started.add(entry);
  void exited.then(() => started.delete(entry));
  return entry;
}

/** Stops one started process group: `signal`, then SIGKILL after `graceMs`. */
export async function stopProcess(
  entry: Started,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 15_000,
): Promise<void> {
  if (!started.has(entry)) return;
  signalGroup(entry, signal);
  const timer = setTimeout(() => signalGroup(entry, 'SIGKILL'), graceMs);
  await entry.exited;
  clearTimeout(timer);
  // A cluster primary that exits leaves no worker behind, but make sure of the whole group.
  signalGroup(entry, 'SIGKILL');
}

/** Stops everything still running, in parallel: on success, failure and Ctrl-C alike. */
export async function stopAll(graceMs = 10_000): Promise<void> {
  await Promise.all([...started].map((entry) => stopProcess(entry, 'SIGTERM', graceMs)));
}

function signalGroup(entry: Started, signal: NodeJS.Signals): void {
  const pid = entry.child.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}
