import http from 'node:http';
import net from 'node:net';

/** A reply, read whole. */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body parsed as JSON (undefined when it is not JSON). */
  body: unknown;
  /** How long the request took, in ms. */
  ms: number;
}

/**
 * One request on a connection of its own (no keep-alive pool, unlike fetch): what a new client
 * would see, which is what shutdown tests need to tell "refused" from "reused".
 */
export function send(
  url: string,
  {
    method = 'GET',
    headers = {},
    json,
    timeoutMs = 15_000,
  }: { method?: string; headers?: Record<string, string>; json?: unknown; timeoutMs?: number } = {},
): Promise<Reply> {
  const start = performance.now();
  const payload = json === undefined ? undefined : JSON.stringify(json);
  const allHeaders =
    payload === undefined ? headers : { 'Content-Type': 'application/json', ...headers };
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: allHeaders, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          text,
          body,
          ms: performance.now() - start,
        });
      });
    });
    req.on('error', reject);
    // A reply that never comes is a failure with a message, not a test that hangs until jest's timeout.
    req.setTimeout(timeoutMs, () =>
      req.destroy(new Error(`no reply from ${method} ${url} within ${timeoutMs} ms`)),
    );
    req.end(payload);
  });
}

/** Attempts a TCP connection: 'connected', or the error code (ECONNREFUSED...). */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

/** Polls `probe` every `intervalMs` until it returns true, or throws after `timeoutMs`. */
export async function eventually(
  probe: () => Promise<boolean>,
  { timeoutMs = 15_000, intervalMs = 100, what = 'condition' } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
