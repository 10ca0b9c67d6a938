import cluster, { type Worker } from 'node:cluster';
import type { Logger } from '../logger';

export interface CrashLoopPolicy {
  /** A worker that exits sooner than this after starting counts as a crash at start-up. */
  minUptimeMs: number;
  /** Consecutive start-up crashes tolerated; one more stops the cluster. */
  limit: number;
  /** First restart delay; it doubles with each consecutive start-up crash. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface WorkerPoolOptions {
  size: number;
  /** Extra environment for the workers (on top of the primary's). */
  env: Record<string, string>;
  logger: Logger;
  /** How long a new worker may take to listen before a reload gives up on it. */
  readyTimeoutMs: number;
  /** How long a worker may take to drain after SIGTERM before it is killed. */
  stopTimeoutMs: number;
  crashLoop: CrashLoopPolicy;
  /** Called once when workers keep crashing at start-up: the caller stops the cluster. */
  onCrashLoop: (crashes: number) => void;
}

interface Entry {
  worker: Worker;
  startedAt: number;
  /** Being replaced or stopped on purpose: its exit is not a crash. */
  retiring: boolean;
}

/**
 * The primary's workers: starts them, replaces crashed ones (backing off when they crash right
 * after starting, and giving up past a limit instead of spinning forever), replaces them one at
 * a time without dropping a request (reload, memory recycling), and stops them all.
 *
 * A replacement always starts the new worker and waits until it listens before telling the old
 * one to drain (SIGTERM: the worker's own graceful shutdown), so the machine never has fewer
 * workers accepting connections than it should.
 */
export class WorkerPool {
  private readonly entries = new Map<number, Entry>();
  private readonly options: WorkerPoolOptions;
  private readonly log: Logger;
  private quickCrashes = 0;
  private stopping = false;
  private restartTimers = new Set<NodeJS.Timeout>();
  /** Replacements run one at a time, in order. */
  private replacements: Promise<void> = Promise.resolve();

  private readonly onClusterExit = (worker: Worker, code: number | null, signal: string | null) =>
    this.onExit(worker, code, signal);

  constructor(options: WorkerPoolOptions) {
    this.options = options;
    this.log = options.logger;
  }

  /** Starts watching the workers' exits and forks the initial workers. */
  start(): void {
    cluster.on('exit', this.onClusterExit);
    for (let i = 0; i < this.options.size; i++) this.fork();
  }

  /** Stops watching the workers (once they are stopped). */
  close(): void {
    cluster.off('exit', this.onClusterExit);
  }

  /** Pids of the workers now running. */
  pids(): number[] {
    return [...this.entries.values()].map((entry) => entry.worker.process.pid ?? 0);
  }

  /**
   * Replaces every worker, one at a time. If a new worker does not come up, the reload stops
   * there and the remaining old workers keep serving.
   */
  reload(reason: string): Promise<void> {
    return this.enqueue(async () => {
      const old = [...this.entries.values()].filter((entry) => !entry.retiring);
      this.log.info({ reason, workers: old.length }, 'reloading workers one at a time');
      for (const entry of old) {
        if (this.stopping) return;
        if (!(await this.replaceEntry(entry, reason))) {
          this.log.error(
            { reason },
            'reload stopped: a new worker did not start; the others keep serving',
          );
          return;
        }
      }
      this.log.info({ workerPids: this.pids() }, 'reload complete');
    });
  }

  /** Replaces one worker gracefully (e.g. one over its memory limit). */
  replace(worker: Worker, reason: string): Promise<void> {
    return this.enqueue(async () => {
      const entry = this.entries.get(worker.id);
      if (entry && !entry.retiring) await this.replaceEntry(entry, reason);
    });
  }

  /**
   * Stops every worker through its graceful shutdown, in parallel.
   * @returns true when all of them exited within the stop timeout; false when some were killed.
   */
  async stop(): Promise<boolean> {
    this.stopping = true;
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    const results = await Promise.all(
      [...this.entries.values()].map((entry) => this.stopEntry(entry)),
    );
    return results.every(Boolean);
  }

  /** Kills every worker at once (a second signal to the primary). */
  kill(): void {
    this.stopping = true;
    for (const { worker } of this.entries.values()) worker.process.kill('SIGKILL');
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    this.replacements = this.replacements.then(task, task);
    return this.replacements;
  }

  private fork(): Worker {
    const worker = cluster.fork(this.options.env);
    const entry: Entry = { worker, startedAt: Date.now(), retiring: false };
    this.entries.set(worker.id, entry);
    const pid = worker.process.pid;
    this.log.info({ workerPid: pid, workerId: worker.id }, 'worker started');
    worker.once('online', () => this.log.info({ workerPid: pid }, 'worker online'));
    worker.once('listening', () => this.log.info({ workerPid: pid }, 'worker listening'));
    return worker;
  }

  /** @returns whether the new worker came up (and the old one was then stopped). */
  private async replaceEntry(old: Entry, reason: string): Promise<boolean> {
    const next = this.fork();
    const listening = await waitUntilListening(next, this.options.readyTimeoutMs);
    if (!listening) {
      const entry = this.entries.get(next.id);
      if (entry) await this.stopEntry(entry);
      return false;
    }
    this.log.info(
      { oldWorkerPid: old.worker.process.pid, newWorkerPid: next.process.pid, reason },
      'worker replaced; draining the old one',
    );
    await this.stopEntry(old);
    return true;
  }

  /** SIGTERM, then SIGKILL after the stop timeout. @returns whether it exited in time. */
  private stopEntry(entry: Entry): Promise<boolean> {
    entry.retiring = true;
    const { worker } = entry;
    if (worker.isDead()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.log.error(
          { workerPid: worker.process.pid, timeoutMs: this.options.stopTimeoutMs },
          'worker did not stop in time: killing it',
        );
        worker.process.kill('SIGKILL');
        resolve(false);
      }, this.options.stopTimeoutMs);
      worker.once('exit', () => {
        clearTimeout(timer);
        resolve(true);
      });
      worker.process.kill('SIGTERM');
    });
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const entry = this.entries.get(worker.id);
    this.entries.delete(worker.id);
    const pid = worker.process.pid;
    if (!entry) return;
    if (entry.retiring || this.stopping) {
      this.log.info({ workerPid: pid, code, signal }, 'worker exited');
      return;
    }
    const uptimeMs = Date.now() - entry.startedAt;
    const { minUptimeMs, limit, baseDelayMs, maxDelayMs } = this.options.crashLoop;
    if (uptimeMs >= minUptimeMs) {
      // It ran fine for a while: an isolated crash, replaced at once.
      this.quickCrashes = 0;
      this.log.warn(
        { workerPid: pid, code, signal, uptimeMs },
        'worker died: starting a replacement',
      );
      this.fork();
      return;
    }
    this.quickCrashes++;
    if (this.quickCrashes > limit) {
      this.log.fatal(
        { workerPid: pid, code, signal, crashes: this.quickCrashes, limit },
        `workers keep crashing at start-up (${this.quickCrashes} times in a row): stopping the cluster; see the worker errors above`,
      );
      this.options.onCrashLoop(this.quickCrashes);
      return;
    }
    const delayMs = Math.min(baseDelayMs * 2 ** (this.quickCrashes - 1), maxDelayMs);
    this.log.warn(
      { workerPid: pid, code, signal, uptimeMs, crashes: this.quickCrashes, delayMs },
      'worker died right after starting: restarting after a back-off',
    );
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (!this.stopping) this.fork();
    }, delayMs);
    this.restartTimers.add(timer);
  }
}

/** Resolves true once `worker` listens, false if it exits or `timeoutMs` passes first. */
function waitUntilListening(worker: Worker, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (listening: boolean) => {
      clearTimeout(timer);
      worker.off('listening', onListening);
      worker.off('exit', onExit);
      resolve(listening);
    };
    const onListening = () => done(true);
    const onExit = () => done(false);
    const timer = setTimeout(() => done(false), timeoutMs);
    worker.once('listening', onListening);
    worker.once('exit', onExit);
  });
}
