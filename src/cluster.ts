import cluster from 'node:cluster';
import { runPrimary } from './cluster/primary';
import { loadConfigOrExit, main } from './server';

/**
 * `pnpm start:cluster`: one primary and MAX_WORKERS workers on one machine. The primary forks
 * and supervises; each worker runs exactly the server `pnpm start` runs. (`CLUSTER_MODE=true
 * pnpm start` does the same through src/server.ts.)
 */
if (cluster.isPrimary) {
  void runPrimary(loadConfigOrExit()).then((code) => process.exit(code));
} else {
  main();
}
