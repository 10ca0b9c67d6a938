import http from 'node:http';

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** A body sent as JSON (with its Content-Type). */
  json?: unknown;
  /** A body sent as it is (malformed JSON, on purpose), as `application/json`. */
  body?: string;
  /** The request fails (rejects) when its reply has not fully arrived within this (default 15 s). */
  timeoutMs?: number;
  /**
   * The local address to send from: any of 127.0.0.0/8 on Linux, so one test can act as several
   * real clients, each of which a proxy in between sees, and forwards, as a different address.
   */
  from?: string;
  /**
   * A keep-alive agent whose connections are reused (the load generator). By default each
   * request has a connection of its own: what a new client sees, which is what shutdown tests
   * need to tell "refused" from "reused".
   */
  agent?: http.Agent;
}

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
 * The harness's HTTP client (node:http rather than fetch, which can choose neither its source
 * address nor a connection of its own). Any reply is a reply, whatever its status; a network
 * error rejects with its code (`ECONNREFUSED`, `ECONNRESET`...).
 */
export function request(
  url: string,
  {
    method = 'GET',
    headers = {},
    json,
    body,
    timeoutMs = 15_000,
    from,
    agent,
  }: RequestOptions = {},
): Promise<Reply> {
  const start = performance.now();
  const payload = json === undefined ? body : JSON.stringify(json);
  // Content-Length said outright: for a DELETE, node:http sends a body given to `end()` with
  // neither it nor chunked encoding, and the server then reads the body as the next request.
  const allHeaders =
    payload === undefined
      ? headers
      : {
          'Content-Type': 'application/json',
          'Content-Length': String(Buffer.byteLength(payload)),
          ...headers,
        };
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, headers: allHeaders, agent: agent ?? false, localAddress: from },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('error', reject);
        res.on('end', () => {
          clearTimeout(timer);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text,
            body: parseJson(text),
            ms: performance.now() - start,
          });
        });
      },
    );
    // A reply that never comes is a failure with a message, not a test that hangs until jest's
    // timeout.
    const timer = setTimeout(
      () => req.destroy(new Error(`no reply from ${method} ${url} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    req.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.end(payload);
  });
}

/**
 * Sends a request and resolves with its JSON body, or rejects, with the status and the body, on
 * any reply but a 2xx: for calls that set something up, where anything else is a failure.
 */
export async function requestJson<T = Record<string, unknown>>(
  url: string,
  options: RequestOptions = {},
): Promise<T> {
  const reply = await request(url, options);
  if (reply.status < 200 || reply.status >= 300)
    throw new Error(`${options.method ?? 'GET'} ${url}: ${reply.status} ${reply.text}`);
  return reply.body as T;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
