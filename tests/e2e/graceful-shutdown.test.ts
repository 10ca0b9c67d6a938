import { setTimeout as sleep } from 'node:timers/promises';
import { startApp, TEST_ROUTES_SERVER, type AppProcess } from '../helpers/e2e/app-process';
import { eventually, send, tryConnect, type Reply } from '../helpers/e2e/http';

const DRAIN_OVER = 'drain delay over: refusing new connections, finishing in-flight requests';

const inFlight = async (app: AppProcess) =>
  ((await send(`${app.url}/health/metrics`)).body as { requests: { inFlight: number } }).requests
    .inFlight;

/**
 * Starts a slow request and resolves once the server is handling it, with its reply to come
 * (wrapped: an async function returning the promise itself would wait for it).
 */
async function slowRequestInFlight(
  app: AppProcess,
  ms: number,
): Promise<{ reply: Promise<Reply> }> {
  const reply = send(`${app.url}/test/slow?ms=${ms}`);
  reply.catch(() => {}); // awaited by the test; a cut connection must not be unhandled meanwhile
  // The metrics request counts itself too: 2 means the slow one has arrived.
  await eventually(async () => (await inFlight(app)) >= 2, { what: 'the slow request' });
  return { reply };
}

describe('graceful shutdown of the built server', () => {
  let app: AppProcess | undefined;
  afterEach(async () => {
    await app?.stop('SIGKILL');
    app = undefined;
  });

  it('fails readiness at once, drains, refuses new connections, finishes the request in flight, exits 0', async () => {
    app = await startApp({
      entry: TEST_ROUTES_SERVER,
      env: { SHUTDOWN_DRAIN_DELAY_MS: '1000', SHUTDOWN_TIMEOUT_MS: '10000' },
    });
    const { reply: slow } = await slowRequestInFlight(app, 2_500);

    // A load balancer's view: /health/ready, polled on new connections until they are refused.
    const readiness: number[] = [];
    const poller = (async () => {
      for (;;) {
        const reply = await send(`${app.url}/health/ready`).catch(() => undefined);
        if (!reply) return;
        readiness.push(reply.status);
        await sleep(50);
      }
    })();
    await sleep(200);

    const signalledAt = Date.now();
    app.child.kill('SIGTERM');
    // The signal reaches the server's JavaScript asynchronously: once it has logged that it is
    // shutting down, readiness has already flipped (same synchronous handler), so the very next
    // answer must be 503.
    await app.waitForLog((line) => line.msg === 'shutting down');
    const firstReady = await send(`${app.url}/health/ready`);
    expect(firstReady.status).toBe(503);
    expect(firstReady.body).toMatchObject({ status: 'shutting_down' });

    // During the drain delay it still serves (a load balancer's late requests succeed), and each
    // response asks its client to reconnect, elsewhere.
    const live = await send(`${app.url}/health/live`);
    expect(live.status).toBe(200);
    expect(live.headers.connection).toBe('close');
    await app.waitForLog((line) => line.msg === DRAIN_OVER);

    // After the drain: the listener is closed while the slow request is still being served.
    expect(await tryConnect(app.port)).toBe('ECONNREFUSED');
    expect(app.child.exitCode).toBeNull();

    // Readiness went from 200 to 503 once, and stayed 503 for the whole drain.
    await poller;
    const firstUnready = readiness.indexOf(503);
    expect(firstUnready).toBeGreaterThan(0);
    expect(readiness.slice(0, firstUnready).every((status) => status === 200)).toBe(true);
    expect(readiness.slice(firstUnready).every((status) => status === 503)).toBe(true);
    expect(readiness.length - firstUnready).toBeGreaterThanOrEqual(5); // 1 s of drain, every 50 ms

    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ sleptMs: 2_500 });

    expect(await app.exited).toBe(0);
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    const messages = app.logs().map((line) => line.msg);
    expect(messages).toEqual(expect.arrayContaining(['shutting down', 'shutdown complete']));
    expect(messages.indexOf('shutting down')).toBeLessThan(messages.indexOf('shutdown complete'));
  });

  it('exits 1 when a request outlasts SHUTDOWN_TIMEOUT_MS', async () => {
    app = await startApp({
      entry: TEST_ROUTES_SERVER,
      env: { SHUTDOWN_DRAIN_DELAY_MS: '0', SHUTDOWN_TIMEOUT_MS: '1500' },
    });
    const { reply: slow } = await slowRequestInFlight(app, 20_000);
    app.child.kill('SIGTERM');
    expect(await app.exited).toBe(1);
    await expect(slow).rejects.toThrow(); // the connection was cut
    expect(app.logs()).toContainEqual(
      expect.objectContaining({ level: 'error', msg: expect.stringMatching(/timed out/) }),
    );
  });

  it('exits 1 at once on a second signal', async () => {
    app = await startApp({
      entry: TEST_ROUTES_SERVER,
      env: { SHUTDOWN_DRAIN_DELAY_MS: '8000', SHUTDOWN_TIMEOUT_MS: '10000' },
    });
    app.child.kill('SIGTERM');
    await app.waitForLog((line) => line.msg === 'shutting down');
    // Copies of one signal that arrive together count once (Ctrl-C reaches the whole process
    // group, and supervisors relay it); an operator's second signal comes later.
    await new Promise((resolve) => setTimeout(resolve, 600));
    const secondAt = Date.now();
    app.child.kill('SIGINT');
    expect(await app.exited).toBe(1);
    expect(Date.now() - secondAt).toBeLessThan(2_000);
  });

  it.each([
    ['an uncaught exception', '/test/crash', 'uncaught exception', 'uncaughtException'],
    ['an unhandled rejection', '/test/reject', 'unhandled promise rejection', 'unhandledRejection'],
  ])(
    'logs %s at fatal level and shuts down through the same path, exiting 1',
    async (_case, path, fatal, reason) => {
      app = await startApp({ entry: TEST_ROUTES_SERVER });
      expect((await send(`${app.url}${path}`, { method: 'POST' })).status).toBe(202);
      expect(await app.exited).toBe(1);
      const logs = app.logs();
      expect(logs).toContainEqual(expect.objectContaining({ level: 'fatal', msg: fatal }));
      expect(logs).toContainEqual(expect.objectContaining({ msg: 'shutting down', reason }));
      expect(logs).toContainEqual(expect.objectContaining({ msg: 'shutdown complete' }));
    },
  );
});
