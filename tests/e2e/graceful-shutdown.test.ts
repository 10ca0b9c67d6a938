import { eventually } from '../../harness/eventually';
import { request, type Reply } from '../../harness/http-client';
import type { LogLine } from '../../harness/log-capture';
import { tryConnect } from '../../harness/ports';
import { startApp, TEST_ROUTES_SERVER, type AppProcess } from '../helpers/built-app';

const DRAIN_OVER = 'drain delay over: refusing new connections, finishing in-flight requests';

const inFlight = async (app: AppProcess) =>
  ((await request(`${app.url}/health/metrics`)).body as { requests: { inFlight: number } }).requests
    .inFlight;

/**
 * Starts a slow request and resolves once the server is handling it, with its reply to come
 * (wrapped: an async function returning the promise itself would wait for it).
 */
async function slowRequestInFlight(
  app: AppProcess,
  ms: number,
): Promise<{ reply: Promise<Reply> }> {
  const reply = request(`${app.url}/test/slow?ms=${ms}`, { timeoutMs: ms + 30_000 });
  reply.catch(() => {}); // awaited by the test; a cut connection must not be unhandled meanwhile
  // The metrics request counts itself too: 2 means the slow one has arrived.
  await eventually(() => inFlight(app), {
    describe: 'the slow request in flight',
    until: (count) => count >= 2,
  });
  return { reply };
}

/** When the server wrote a log line (pino's ISO time), in ms. */
const loggedAt = (line: LogLine) => Date.parse(String(line.time));

describe('graceful shutdown of the built server', () => {
  let app: AppProcess | undefined;
  afterEach(async () => {
    await app?.stop('SIGKILL');
    app = undefined;
  });

  it('fails readiness at once, drains, refuses new connections, finishes the request in flight, exits 0', async () => {
    // The drain is long enough for this test to make its requests during it, however busy the
    // machine, and the slow request outlasts the drain by as much again: the order of events is
    // set by the server's own timers, never by how fast this test gets to run.
    const drainMs = 4_000;
    const slowMs = 10_000;
    app = await startApp({
      entry: TEST_ROUTES_SERVER,
      env: { SHUTDOWN_DRAIN_DELAY_MS: String(drainMs), SHUTDOWN_TIMEOUT_MS: '30000' },
    });
    const { reply: slow } = await slowRequestInFlight(app, slowMs);

    // A load balancer's view: /health/ready, polled on new connections until they are refused.
    const readiness: number[] = [];
    const poller = eventually(
      async () => {
        const reply = await request(`${app!.url}/health/ready`).catch(() => undefined);
        if (!reply) return true; // refused: the listener is closed
        readiness.push(reply.status);
        return false;
      },
      { describe: 'the listener to refuse connections', timeoutMs: 120_000, intervalMs: 50 },
    );
    await eventually(() => readiness.length > 0, { describe: 'a first readiness answer' });

    app.signal('SIGTERM');
    // The signal reaches the server's JavaScript asynchronously: once it has logged that it is
    // shutting down, readiness has already flipped (same synchronous handler), so the very next
    // answer must be 503.
    const shuttingDown = await app.waitForLog((line) => line.msg === 'shutting down');
    const firstReady = await request(`${app.url}/health/ready`);
    expect(firstReady.status).toBe(503);
    expect(firstReady.body).toMatchObject({ status: 'shutting_down' });

    // During the drain delay it still serves (a load balancer's late requests succeed), and each
    // response asks its client to reconnect, elsewhere.
    const live = await request(`${app.url}/health/live`);
    expect(live.status).toBe(200);
    expect(live.headers.connection).toBe('close');
    const drainOver = await app.waitForLog((line) => line.msg === DRAIN_OVER);
    // The drain lasted the configured delay: a timer fires late, never early.
    expect(loggedAt(drainOver) - loggedAt(shuttingDown)).toBeGreaterThanOrEqual(drainMs);

    // After the drain: the listener is closed while the slow request is still being served. The
    // line is written just before the listener closes, and the kernel completes a connection to
    // a listener that is still open: wait for the refusal rather than race the close.
    await eventually(() => tryConnect(app!.port), {
      describe: 'new connections to be refused',
      until: (outcome) => outcome === 'ECONNREFUSED',
    });
    expect(app.exitStatus()).toBeUndefined();

    // Readiness went from 200 to 503 once, and stayed 503 until connections were refused; the
    // server kept answering it during the drain, not only at its first moment.
    await poller;
    const firstUnready = readiness.indexOf(503);
    expect(firstUnready).toBeGreaterThan(0);
    expect(readiness.slice(0, firstUnready).every((status) => status === 200)).toBe(true);
    expect(readiness.slice(firstUnready).every((status) => status === 503)).toBe(true);
    expect(readiness.length - firstUnready).toBeGreaterThanOrEqual(2);

    const reply = await slow;
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ sleptMs: slowMs });

    // Exit 0 also says the whole shutdown ended within SHUTDOWN_TIMEOUT_MS: past it, the server
    // exits 1 (next test).
    expect(await app.exited).toBe(0);
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
    app.signal('SIGTERM');
    expect(await app.exited).toBe(1);
    await expect(slow).rejects.toThrow(); // the connection was cut
    expect(app.logs()).toContainEqual(
      expect.objectContaining({ level: 'error', msg: expect.stringMatching(/timed out/) }),
    );
  });

  it('exits 1 at once on a second signal', async () => {
    const drainMs = 8_000;
    app = await startApp({
      entry: TEST_ROUTES_SERVER,
      env: { SHUTDOWN_DRAIN_DELAY_MS: String(drainMs), SHUTDOWN_TIMEOUT_MS: '10000' },
    });
    app.signal('SIGTERM');
    const shuttingDown = await app.waitForLog((line) => line.msg === 'shutting down');
    // Copies of one signal that arrive together count once (Ctrl-C reaches the whole process
    // group, and supervisors relay it); an operator's second signal comes later. The server
    // logged the first one before this wait began, so they reach it at least 600 ms apart.
    await new Promise((resolve) => setTimeout(resolve, 600));
    app.signal('SIGINT');
    expect(await app.exited).toBe(1);
    // At once: it did not wait out the drain, and nothing of a graceful end was logged.
    const messages = app.logs().map((line) => line.msg);
    expect(messages).not.toContain(DRAIN_OVER);
    expect(messages).not.toContain('shutdown complete');
    expect(Date.now() - loggedAt(shuttingDown)).toBeLessThan(drainMs);
  });

  it.each([
    ['an uncaught exception', '/test/crash', 'uncaught exception', 'uncaughtException'],
    ['an unhandled rejection', '/test/reject', 'unhandled promise rejection', 'unhandledRejection'],
  ])(
    'logs %s at fatal level and shuts down through the same path, exiting 1',
    async (_case, path, fatal, reason) => {
      app = await startApp({ entry: TEST_ROUTES_SERVER });
      expect((await request(`${app.url}${path}`, { method: 'POST' })).status).toBe(202);
      expect(await app.exited).toBe(1);
      const logs = app.logs();
      expect(logs).toContainEqual(expect.objectContaining({ level: 'fatal', msg: fatal }));
      expect(logs).toContainEqual(expect.objectContaining({ msg: 'shutting down', reason }));
      expect(logs).toContainEqual(expect.objectContaining({ msg: 'shutdown complete' }));
    },
  );
});
