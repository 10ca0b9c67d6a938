import http from 'node:http';
import type { Express } from 'express';

/**
 * The HTTP server around the app, with explicit timeouts rather than Node's defaults:
 * - keep-alive 65 s, longer than nginx's upstream keepalive_timeout (60 s, its default) and an
 *   AWS ALB's idle timeout (60 s): the proxy, not the app, closes idle upstream connections.
 *   The other way round, the proxy can send a request on a socket the app is closing at that
 *   instant, and its client gets a 502. Lower the proxy's timeout, never raise it past this.
 * - headers 66 s, longer than keep-alive, so an idle keep-alive socket is ended by the
 *   keep-alive timer, not mistaken for a client slow to send its headers;
 * - request 30 s: a whole request, body included, must arrive within this (slow-loris).
 */
export function createHttpServer(app: Express): http.Server {
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 30_000;
  return server;
}

/** Listens on `host:port`; resolves with the address (`host:port`) once listening. */
export function listen(server: http.Server, host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(
        typeof address === 'object' && address
          ? `${address.address}:${address.port}`
          : `${address}`,
      );
    });
  });
}
