import { randomBytes } from 'node:crypto';

/** One request of a load worker. */
export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
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

/** A request that did not end in a 2xx/3xx reply. */
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

// What undici reports when the peer closed the connection before a reply: "other side closed"
// (FIN), a reset, or a write to a closed socket.
const CONNECTION_CLOSED = ['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE'];
const MAX_RESENDS = 3;
const isClosed = (failure: LoadFailure) =>
  CONNECTION_CLOSED.some((code) => failure.outcome.startsWith(`network: ${code} `));

/**
 * Sends requests from `concurrency` workers over keep-alive connections (Node's fetch) until
 * stopped. Every request carries its own X-Request-Id, which nginx forwards and logs, so each
 * outcome can be traced to nginx's and the app's logs. Any reply outside 2xx/3xx, any timeout and
 * any network error is a failure.
 */
export function startLoad({
  baseUrl,
  concurrency,
  next,
  pauseMs = 20,
  retryConnectionResets = false,
}: LoadOptions): RunningLoad {
  const report: LoadReport = { sent: 0, failures: [], resets: [], byPath: {}, durationMs: 0 };
  const startedAt = Date.now();
  let stopping = false;

  async function attempt(request: LoadRequest): Promise<{ ok: true } | LoadFailure> {
    const requestId = randomBytes(16).toString('hex');
    const base = { method: request.method, path: request.path, requestId };
    let res: Response;
    try {
      res = await fetch(`${baseUrl}${request.path}`, {
        method: request.method,
        headers: {
          'X-Request-Id': requestId,
          ...(request.body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...request.headers,
        },
        body: request.body === undefined ? undefined : JSON.stringify(request.body),
        signal: AbortSignal.timeout(15_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      return {
        ...base,
        outcome: `network: ${cause?.code ?? ''} ${cause?.message ?? String(error)}`,
      };
    }
    try {
      const text = await res.text();
      if (res.status >= 400)
        return { ...base, outcome: `HTTP ${res.status} ${text.slice(0, 200)}` };
      request.onSuccess?.(text ? JSON.parse(text) : undefined);
      return { ok: true };
    } catch (error) {
      return { ...base, outcome: `reading the reply: ${String(error)}` };
    }
  }

  async function worker(index: number): Promise<void> {
    while (!stopping) {
      const request = next(index);
      let result = await attempt(request);
      for (
        let retries = 0;
        retryConnectionResets && retries < MAX_RESENDS && 'outcome' in result && isClosed(result);
        retries++
      ) {
        report.resets.push(result);
        // One reload closes every idle connection at once: let the client see the others close
        // before it picks a connection for the resend.
        await new Promise((resolve) => setTimeout(resolve, 5));
        result = await attempt(request);
      }
      report.sent += 1;
      report.byPath[request.path] = (report.byPath[request.path] ?? 0) + 1;
      if ('outcome' in result) report.failures.push(result);
      if (pauseMs > 0) await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }

  const workers = Array.from({ length: concurrency }, (_, i) => worker(i));
  return {
    progress: () => ({ sent: report.sent, failed: report.failures.length }),
    async stop() {
      stopping = true;
      await Promise.all(workers);
      report.durationMs = Date.now() - startedAt;
      return report;
    },
  };
}

/** Resolves once the load has ended `count` more requests (so a phase surely saw traffic). */
export async function waitForRequests(
  load: RunningLoad,
  count: number,
  timeoutMs = 60_000,
): Promise<void> {
  const target = load.progress().sent + count;
  const deadline = Date.now() + timeoutMs;
  while (load.progress().sent < target) {
    if (Date.now() > deadline) throw new Error(`the load did not send ${count} requests in time`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Failures as short lines (the first `limit`), for assertion messages. */
export function summarizeFailures(failures: readonly LoadFailure[], limit = 10): string[] {
  const lines = failures
    .slice(0, limit)
    .map((f) => `${f.method} ${f.path} [${f.requestId}]: ${f.outcome.slice(0, 160)}`);
  if (failures.length > limit) lines.push(`...and ${failures.length - limit} more`);
  return lines;
}
