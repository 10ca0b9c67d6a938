import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from './eventually';
import { request, type Reply } from './http-client';

/** One request of a load worker. */
export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  /** Where to send it, when not to the load's `baseUrl` (load spread over several servers). */
  baseUrl?: string;
  headers?: Record<string, string>;
  body?: unknown;
  /** Which statuses are a success (default: 2xx and 3xx). */
  accept?: (status: number) => boolean;
  /** Receives the JSON reply of a success, e.g. to chain refresh tokens. */
  onSuccess?: (body: unknown) => void;
}

export interface LoadOptions {
  baseUrl: string;
  /** Workers, each with at most one request in flight: the number of concurrent connections. */
  concurrency: number;
  /** The next request of worker `worker` (0-based). */
  next: (worker: number) => LoadRequest;
  /** Pause of each worker between a reply and its next request, to keep the rate moderate. */
  pauseMs?: number;
  /** A request with no complete reply within this is a failure (default 15 s). */
  timeoutMs?: number;
  /**
   * Resend a request whose keep-alive connection the server closed before sending any byte of a
   * reply, as HTTP clients do for a reused connection (Go's net/http, browsers; RFC 9112 9.3.1),
   * up to 3 times. nginx closes its idle client connections on every reload: a request written
   * at that instant was never read. Each such attempt is recorded in {@link LoadReport.resets},
   * with its request id, so the test can prove from the access logs that it was never processed.
   * Off: every network error is a failure.
   */
  retryConnectionResets?: boolean;
}

/** A request that did not end in an accepted reply. */
export interface LoadFailure {
  method: string;
  path: string;
  requestId: string;
  /** The status, or the network error. */
  outcome: string;
}

export interface LoadReport {
  /** Requests that ended (a reply, or a final error), retries not counted twice. */
  sent: number;
  failures: LoadFailure[];
  /** Attempts retried after a connection reset before any reply (see `retryConnectionResets`). */
  resets: LoadFailure[];
  /** Requests per path. */
  byPath: Record<string, number>;
  durationMs: number;
}

export interface RunningLoad {
  /** Requests ended and failed so far. */
  progress(): { sent: number; failed: number };
  /** Lets every worker finish its request in flight, then reports. */
  stop(): Promise<LoadReport>;
}

// What node:http reports when the peer closed a connection before a reply: "socket hang up"
// (ECONNRESET, also for a FIN), a reset, or a write to a closed socket.
const CONNECTION_CLOSED = ['ECONNRESET', 'EPIPE'];
const MAX_RESENDS = 3;
const isClosed = (failure: LoadFailure) =>
  CONNECTION_CLOSED.some((code) => failure.outcome.startsWith(`network: ${code} `));
const isSuccess = (status: number) => status >= 200 && status < 400;

/**
 * Sends requests from `concurrency` workers over keep-alive connections until stopped. Every
 * request carries its own X-Request-Id, which nginx forwards and logs, so each outcome can be
 * traced to nginx's and the app's logs. Any reply that is not accepted, any timeout and any
 * network error is a failure.
 */
export function startLoad({
  baseUrl,
  concurrency,
  next,
  pauseMs = 20,
  timeoutMs = 15_000,
  retryConnectionResets = false,
}: LoadOptions): RunningLoad {
  const report: LoadReport = { sent: 0, failures: [], resets: [], byPath: {}, durationMs: 0 };
  const startedAt = Date.now();
  const agent = new http.Agent({ keepAlive: true });
  let stopping = false;

  async function attempt(load: LoadRequest): Promise<{ ok: true } | LoadFailure> {
    const requestId = randomBytes(16).toString('hex');
    const base = { method: load.method, path: load.path, requestId };
    let reply: Reply;
    try {
      reply = await request(`${load.baseUrl ?? baseUrl}${load.path}`, {
        method: load.method,
        headers: { 'X-Request-Id': requestId, ...load.headers },
        json: load.body,
        timeoutMs,
        agent,
      });
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      return { ...base, outcome: `network: ${code ?? ''} ${message}` };
    }
    if (!(load.accept ?? isSuccess)(reply.status))
      return { ...base, outcome: `HTTP ${reply.status} ${reply.text.slice(0, 200)}` };
    try {
      load.onSuccess?.(reply.body);
      return { ok: true };
    } catch (error) {
      return { ...base, outcome: `reading the reply: ${String(error)}` };
    }
  }

  async function worker(index: number): Promise<void> {
    while (!stopping) {
      const load = next(index);
      let result = await attempt(load);
      for (
        let retries = 0;
        retryConnectionResets && retries < MAX_RESENDS && 'outcome' in result && isClosed(result);
        retries++
      ) {
        report.resets.push(result);
        // One reload closes every idle connection at once: let the client see the others close
        // before it picks a connection for the resend.
        await sleep(5);
        result = await attempt(load);
      }
      report.sent += 1;
      report.byPath[load.path] = (report.byPath[load.path] ?? 0) + 1;
      if ('outcome' in result) report.failures.push(result);
      if (pauseMs > 0) await sleep(pauseMs);
    }
  }

  const workers = Array.from({ length: concurrency }, (_, i) => worker(i));
  return {
    progress: () => ({ sent: report.sent, failed: report.failures.length }),
    async stop() {
      stopping = true;
      await Promise.all(workers);
      agent.destroy();
      report.durationMs = Date.now() - startedAt;
      return report;
    },
  };
}

/** Resolves once the load has ended `count` more requests (so a phase surely saw traffic). */
export async function waitForRequests(
  load: RunningLoad,
  count: number,
  timeoutMs = 120_000,
): Promise<void> {
  const target = load.progress().sent + count;
  await eventually(() => load.progress().sent, {
    describe: `the load to end ${count} more requests (${target} in all)`,
    timeoutMs,
    intervalMs: 20,
    until: (sent) => sent >= target,
  });
}

/** Failures as short lines (the first `limit`), for assertion messages. */
export function summarizeFailures(failures: readonly LoadFailure[], limit = 10): string[] {
  const lines = failures
    .slice(0, limit)
    .map((f) => `${f.method} ${f.path} [${f.requestId}]: ${f.outcome.slice(0, 160)}`);
  if (failures.length > limit) lines.push(`...and ${failures.length - limit} more`);
  return lines;
}
