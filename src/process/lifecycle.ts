import type { Logger } from '../logger';

/** Repeats of a stop signal within this window are deliveries of the same request. */
const DUPLICATE_SIGNAL_WINDOW_MS = 500;

export interface ProcessLifecycleOptions {
  logger: Logger;
  /**
   * Starts an orderly stop. Called once: for a stop signal (exit code 0), a fatal error (1), or
   * the parent going away. The entry file exits when the stop is done.
   */
  stop: (reason: string, exitCode: number) => void;
  /** A stop requested again after the repeat window: the operator insists. Exit now. */
  force: (reason: string) => void;
  /** Signals that stop the process. */
  stopSignals?: readonly NodeJS.Signals[];
  /** What other signals do (a cluster primary reloads its workers; a worker ignores them). */
  signals?: Readonly<Partial<Record<NodeJS.Signals, () => void>>>;
  /**
   * Stop, with this reason, when the IPC channel to the parent closes: a cluster worker whose
   * primary died has no supervisor left.
   */
  stopOnDisconnect?: string;
  /** Repeats within this window are ignored (see {@link DUPLICATE_SIGNAL_WINDOW_MS}). */
  duplicateWindowMs?: number;
}

/** The installed listeners; `uninstall` removes every one of them. */
export interface ProcessLifecycle {
  /** True once a stop has been requested. */
  readonly stopping: boolean;
  uninstall(): void;
}

/**
 * The one owner of the process's listeners: stop signals, other signals, fatal errors and the
 * parent's disconnection. The single-process server, each cluster worker and the cluster primary
 * install it; each passes what a stop and a forced stop mean for it.
 *
 * - A stop signal starts `stop` once. Ctrl-C signals the whole process group, and supervisors
 *   (pnpm, tsx watch) relay the same signal: copies within `duplicateWindowMs` are one request,
 *   not an operator insisting. A later one calls `force`.
 * - An uncaught exception or unhandled rejection is logged as fatal and stops with exit code 1:
 *   the process's state is unknown, so it drains and leaves rather than serving on.
 *
 * Only the entry files exit: `stop` and `force` are theirs.
 */
export function installProcessLifecycle({
  logger,
  stop,
  force,
  stopSignals = ['SIGTERM', 'SIGINT'],
  signals = {},
  stopOnDisconnect,
  duplicateWindowMs = DUPLICATE_SIGNAL_WINDOW_MS,
}: ProcessLifecycleOptions): ProcessLifecycle {
  let stopRequestedAt: number | undefined;

  const requestStop = (reason: string, exitCode: number) => {
    if (stopRequestedAt !== undefined) {
      if (performance.now() - stopRequestedAt < duplicateWindowMs) return;
      force(reason);
      return;
    }
    stopRequestedAt = performance.now();
    stop(reason, exitCode);
  };

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- process.on's own listener type
  const listeners: Array<[string, (...args: any[]) => void]> = [
    ...stopSignals.map((signal): [string, () => void] => [signal, () => requestStop(signal, 0)]),
    ...Object.entries(signals).map(([signal, handler]): [string, () => void] => [
      signal,
      () => handler?.(),
    ]),
    [
      'uncaughtException',
      (error: Error) => {
        logger.fatal({ err: error }, 'uncaught exception');
        requestStop('uncaughtException', 1);
      },
    ],
    [
      'unhandledRejection',
      (reason: unknown) => {
        logger.fatal({ err: reason }, 'unhandled promise rejection');
        requestStop('unhandledRejection', 1);
      },
    ],
    ...(stopOnDisconnect === undefined
      ? []
      : [['disconnect', () => requestStop(stopOnDisconnect, 0)] as [string, () => void]]),
  ];
  for (const [event, listener] of listeners) process.on(event, listener);

  return {
    get stopping() {
      return stopRequestedAt !== undefined;
    },
    uninstall() {
      for (const [event, listener] of listeners) process.off(event, listener);
    },
  };
}
