import cluster from 'node:cluster';
import type { Router } from 'express';
import { createApp } from './app';
import { runPrimary } from './cluster/primary';
import { composeServer, StartupError, type Services } from './composition/root';
import { ConfigError, loadConfig, type LoadedConfig } from './config';
import { createGracefulShutdown } from './http/graceful-shutdown';
import { createHttpServer, listen } from './http/http-server';
import { installProcessLifecycle } from './process/lifecycle';

/**
 * `pnpm start`: one server process, config -> composition root -> app -> listen, until a signal
 * or a fatal error stops it. Cluster workers run the same function. This file and
 * src/cluster.ts are the only ones that exit the process.
 */

export interface ServerOptions {
  /**
   * Routers to add to the app, built from its services (see `AppOptions.extraRouters`). Only
   * tests pass any (tests/e2e fixtures): `pnpm start` runs this file directly, with none.
   */
  extraRouters?: (services: Services) => readonly Router[];
}

/**
 * Runs one server process until it has stopped.
 * @returns the exit code: 0 after a clean shutdown, 1 after a failure, a timeout, a fatal
 *   error, or a second stop signal.
 */
export async function runServer(
  loaded: LoadedConfig,
  options: ServerOptions = {},
): Promise<number> {
  let root;
  try {
    root = await composeServer(loaded);
  } catch (error) {
    if (error instanceof StartupError) return 1; // already logged, nothing left open
    throw error;
  }
  const { config, logger } = root;
  const server = createHttpServer(createApp(root, { extraRouters: options.extraRouters?.(root) }));

  let exited: (code: number) => void = () => {};
  const exitCode = new Promise<number>((resolve) => (exited = resolve));
  const shutdown = createGracefulShutdown({
    server,
    logger,
    timeoutMs: config.shutdown.timeoutMs,
    drainDelayMs: config.shutdown.drainDelayMs,
    onStart: () => root.beginShutdown(),
    handlersIdle: () => root.inFlight.idle(),
    closeDependencies: async () => {
      if (!(await root.close())) throw new Error('some resources did not close cleanly');
    },
  });
  installProcessLifecycle({
    logger,
    stop: (reason, code) => void shutdown(reason).then((clean) => exited(clean ? code : 1)),
    force: (reason) => {
      logger.warn({ reason }, 'second shutdown request: exiting now');
      exited(1);
    },
    // Reload signals are the cluster primary's; a terminal hang-up or a group-wide signal must
    // not kill the workers (Node's default for both is to exit).
    signals: cluster.isWorker ? { SIGHUP: () => {}, SIGUSR2: () => {} } : {},
    // A worker whose primary died (killed, crashed) has no supervisor left: drain and exit.
    stopOnDisconnect: cluster.isWorker ? 'cluster primary gone' : undefined,
  });

  try {
    const address = await listen(server, config.host, config.port);
    logger.info(
      {
        address,
        env: config.env,
        database: root.db.description,
        redis: Boolean(root.redis),
      },
      'server listening',
    );
  } catch (error) {
    logger.fatal({ err: error, host: config.host, port: config.port }, 'could not listen');
    await root.close();
    return 1;
  }
  return exitCode;
}

/** Loads the configuration, or exits 1 with one readable line per problem. */
export function loadConfigOrExit(): LoadedConfig {
  try {
    return loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // One readable line per problem, no stack: this is an operator's mistake, not a bug.
    for (const problem of error.problems) process.stderr.write(`config error: ${problem}\n`);
    process.exit(1);
  }
}

/** Runs the server (or, with CLUSTER_MODE=true, the cluster primary) and exits with its code. */
export function main(options: ServerOptions = {}): void {
  const loaded = loadConfigOrExit();
  // CLUSTER_MODE=true makes `pnpm start` what `pnpm start:cluster` is (the seeds' contract).
  const run =
    loaded.config.cluster.enabled && cluster.isPrimary
      ? runPrimary(loaded)
      : runServer(loaded, options);
  void run.then((code) => process.exit(code));
}

if (require.main === module) main();
