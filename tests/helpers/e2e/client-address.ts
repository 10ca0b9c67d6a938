import http from 'node:http';

/** A reply read in full. */
export interface PlainResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestFromOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** The request fails (rejects) when no reply arrived within this. */
  timeoutMs?: number;
}

/**
 * Sends one request from the loopback address `from` (any of 127.0.0.0/8 on Linux), so one test
 * can act as several real clients: a proxy in between sees, and forwards, a different address
 * for each. `fetch` cannot choose its source address.
 */
export function requestFrom(
  from: string,
  url: string,
  { method = 'GET', headers = {}, body, timeoutMs = 5_000 }: RequestFromOptions = {},
): Promise<PlainResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        localAddress: from,
        headers: {
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...headers,
        },
        signal: AbortSignal.timeout(timeoutMs),
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
