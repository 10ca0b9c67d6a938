import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';

/** How a process ended: its exit code, or the signal that killed it. */
export type ExitStatus = number | NodeJS.Signals;

export interface StartProcessOptions {
  /** A short name, for messages. */
  name?: string;
  /** The whole environment: nothing of this process's own leaks in unless passed. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Append stdout and stderr straight to this file instead of keeping them in memory: the
   * harness then spends none of its own CPU relaying output (the bench, whose servers log every
   * request).
   */
  outputFile?: string;
  /** Receives output as it arrives (memory output only): a log capture parses it from here. */
  onOutput?: (text: string) => void;
}

/** A process the harness started and tracks until it exits. */
export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves once the process has exited and its output has been read to the end. */
  readonly exited: Promise<ExitStatus>;
  /** How it ended, or undefined while it runs. */
  exitStatus(): ExitStatus | undefined;
  /** stdout and stderr so far, interleaved (read from the file when output goes to one). */
  output(): string;
  /** The last `lines` lines of output, for error messages. */
  tail(lines?: number): string;
  /** Sends `signal` to this process alone, as an operator's `kill` would. */
  signal(signal: NodeJS.Signals): void;
  /**
   * Sends `signal` to the process and waits for it to exit; after `graceMs`, SIGKILLs its whole
   * process group (a cluster primary with its workers). Calling it again returns the same promise.
   */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<ExitStatus>;
}

/** What runs now, each with how to SIGKILL its whole group. */
const tracked = new Map<ManagedProcess, () => void>();

/**
 * Starts `command` in a process group of its own, so that stopping it reaches everything it
 * started (a cluster's workers), and a Ctrl-C in the terminal reaches only the harness, which
 * then stops what it started (see {@link stopAll}). Nothing outlives the harness process: what
 * still runs when it exits is SIGKILLed (under jest, whose sandbox hides the exit from this
 * module, the e2e tier calls {@link stopAll} after each test file instead).
 */
export function startProcess(
  command: string,
  args: readonly string[],
  {
    name = command,
    env = { PATH: process.env.PATH },
    cwd,
    outputFile,
    onOutput,
  }: StartProcessOptions = {},
): ManagedProcess {
  let fd: number | undefined;
  if (outputFile !== undefined) fd = openSync(outputFile, 'a');
  const child = spawn(command, args, {
    cwd,
    env,
    detached: true,
    stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'],
  });
  if (fd !== undefined) closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);

  let memory = '';
  const keep = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    memory += text;
    onOutput?.(text);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  // Set when `exited` resolves, not at the exit itself: whoever sees it set can read all output.
  let status: ExitStatus | undefined;
  const exited = new Promise<ExitStatus>((resolve) => {
    const end = (code: number | null, signal: NodeJS.Signals | null) => {
      status ??= code ?? signal ?? 'SIGKILL';
      resolve(status);
    };
    // 'close' comes after 'exit' once the output pipes are drained, so the last lines a process
    // wrote are there when a test reads them. A descendant that inherited the pipes would hold
    // 'close' back: then the exit alone decides, a little later.
    child.once('exit', (code, signal) => setTimeout(() => end(code, signal), 5_000).unref());
    child.once('close', end);
  });
  // A failed kill, say: an 'error' nobody listens to would end this process.
  child.on('error', (error) => (memory += `\n${name}: ${error.message}\n`));
  const alive = () => child.exitCode === null && child.signalCode === null;
  // Only while the process has not been reaped: until then its pid, which is the group's id,
  // cannot belong to anything else. Afterwards it may (pids wrap around, at 32768 on many
  // machines), and a group signal could reach a stranger.
  const killGroup = () => {
    if (!alive()) return;
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // The group is already gone.
    }
  };

  const output = () => (outputFile === undefined ? memory : readFileSync(outputFile, 'utf8'));
  let stopped: Promise<ExitStatus> | undefined;
  const managed: ManagedProcess = {
    name,
    child,
    pid: child.pid,
    exited,
    exitStatus: () => status,
    output,
    tail: (lines = 30) => output().trimEnd().split('\n').slice(-lines).join('\n'),
    signal(signal) {
      if (alive()) child.kill(signal);
    },
    stop(signal = 'SIGTERM', graceMs = 15_000) {
      stopped ??= (async () => {
        if (alive()) child.kill(signal);
        const timer = setTimeout(killGroup, graceMs);
        try {
          return await exited;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopped;
    },
  };
  track(managed, killGroup);
  return managed;
}

/** Stops every process still running, in parallel: on success, failure and Ctrl-C alike. */
export async function stopAll(graceMs = 10_000): Promise<void> {
  await Promise.all([...tracked.keys()].map((proc) => proc.stop('SIGTERM', graceMs)));
}

// Listeners on this process exist only while something runs, so a test file that started
// nothing adds none, and none pile up across the files a test worker runs.
const INTERRUPTS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function track(proc: ManagedProcess, killGroup: () => void): void {
  if (tracked.size === 0) {
    process.on('exit', killEverything);
    for (const signal of INTERRUPTS) process.on(signal, interrupted);
  }
  tracked.set(proc, killGroup);
  void proc.exited.then(() => {
    tracked.delete(proc);
    if (tracked.size > 0) return;
    process.off('exit', killEverything);
    for (const signal of INTERRUPTS) process.off(signal, interrupted);
  });
}

/** At exit nothing can be awaited: whatever still runs is killed outright. */
function killEverything(): void {
  for (const killGroup of tracked.values()) killGroup();
}

/**
 * Ctrl-C (or a supervisor's signal) reaches the harness alone, since each process has a group of
 * its own: every process is told to stop. When no other listener owns the signal (a test
 * worker), it is then delivered again with its default action, and this process ends as it
 * would have; an entry that listens too (the bench's runner) decides itself when to exit.
 */
function interrupted(signal: NodeJS.Signals): void {
  for (const proc of tracked.keys()) void proc.stop('SIGTERM', 5_000);
  for (const each of INTERRUPTS) process.off(each, interrupted);
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}
