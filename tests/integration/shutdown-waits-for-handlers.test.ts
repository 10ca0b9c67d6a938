import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp } from '../../src/app';
import { createGracefulShutdown } from '../../src/http/graceful-shutdown';
import { createHttpServer } from '../../src/http/http-server';
import { defineRoute, type Feature } from '../../src/http/route';
import { createTestApp, type TestApp } from '../helpers/test-app';

/**
 * The shutdown the server runs (src/server.ts), on the real composition root over a real socket:
 * a request whose client has gone away (logged 499) must not find the database closed under its
 * handler. Before handlers were counted, closing waited for connections only, and such handlers
 * failed with "Cannot use a pool after calling end on the pool" (PGlite: "PGlite is closed").
 */
describe('graceful shutdown with a handler still running after its client left', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ SHUTDOWN_DRAIN_DELAY_MS: '0' });
  });
  afterAll(() => t.close());

  it('closes the database only once the handler has finished with it', async () => {
    let entered: () => void = () => {};
    const handlerEntered = new Promise<void>((resolve) => (entered = resolve));
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const outcomes: string[] = [];
    const held: Feature = {
      name: 'held',
      description: 'A handler that waits, then queries the database',
      basePath: '/held',
      routes: [
        defineRoute({
          method: 'get',
          path: '/',
          summary: 'Waits for the test, then queries',
          auth: 'none',
          responses: { 204: { description: 'done' } },
          errors: [],
        }).handle(async () => {
          entered();
          await gate;
          try {
            await t.db.ping();
            outcomes.push('query succeeded');
          } catch (error) {
            outcomes.push(`query failed: ${(error as Error).message}`);
          }
          return { status: 204 };
        }),
      ],
    };
    const root = t.root;
    const server = createHttpServer(createApp({ ...root, features: [held] }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    // The client sends, then gives up while the handler waits.
    const client = http.get({ host: '127.0.0.1', port, path: '/api/held' });
    client.on('error', () => {});
    await handlerEntered;
    client.destroy();

    const shutdown = createGracefulShutdown({
      server,
      logger: root.logger,
      timeoutMs: 20_000,
      drainDelayMs: 0,
      onStart: () => root.beginShutdown(),
      handlersIdle: () => root.inFlight.idle(),
      closeDependencies: async () => {
        outcomes.push('closing dependencies');
        await root.close();
      },
    });
    const done = shutdown('SIGTERM');
    // Every connection is gone (the server only emits 'close' then), but the handler still holds
    // the shutdown: the database stays open.
    await new Promise<void>((resolve) => server.once('close', resolve));
    expect(root.inFlight.size).toBe(1);
    expect(outcomes).toEqual([]);

    release();
    expect(await done).toBe(true);
    expect(outcomes).toEqual(['query succeeded', 'closing dependencies']);
  });
});
