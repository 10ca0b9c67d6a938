import path from 'node:path';
import { parseLogLines } from '../harness/log-capture';
import { startProcess } from '../harness/processes';

const LOAD_GENERATOR = path.join(__dirname, 'load.mjs');

/** What bench/load.mjs sends: see its header. */
export interface LoadJob {
  url: string;
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Concurrent connections, when not the run's `BENCH_CONNECTIONS`. */
  connections?: number;
  /** Unspent refresh tokens, for the rotation scenario (see bench/load.mjs). */
  refreshTokens?: { warmup: string[]; measured: string[] };
}

/** What bench/load.mjs prints. */
export interface LoadResult {
  requestsPerSec: number;
  total: number;
  latencyMs: { p50: number; p99: number; max: number };
  statusCounts: Record<string, number>;
  errors: number;
  timeouts: number;
  errorKinds: Record<string, number>;
}

/**
 * Runs autocannon in a process of its own (bench/load.mjs), so the bench's own work never
 * competes with it for an event loop, and reads its one-line JSON result.
 */
export async function runLoad(
  node: string,
  job: LoadJob & { connections: number; durationSec: number; warmupSec: number },
): Promise<LoadResult> {
  const load = startProcess(node, [LOAD_GENERATOR, JSON.stringify(job)], {
    name: 'load generator',
    env: process.env,
    cwd: path.resolve(__dirname, '..'),
  });
  const status = await load.exited;
  if (status !== 0) throw new Error(`the load generator exited with ${status}:\n${load.tail()}`);
  const result = parseLogLines(load.output()).at(-1);
  if (!result) throw new Error(`the load generator printed no result:\n${load.tail()}`);
  return result as unknown as LoadResult;
}
