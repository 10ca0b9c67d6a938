import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { tryConnect } from '../../harness/ports';
import {
  createGracefulShutdown,
  type GracefulShutdownOptions,
} from '../../src/http/graceful-shutdown';
import { capturedLogger } from '../helpers/captured-logger';

/**
 * A real HTTP server on a free port: `/held` answers when the test calls `release()`,
 * `/slow?ms=N` after N ms, anything else at once. Its keep-alive timeout is the production one,
 * so a connection left open would show.
 */
async function startServer() {
  const held: Array<() => void> = [];
  const server = http.createServer((req, res) => {
    if (req.url === '/held') {
      held.push(() => res.end('ok'));
      return;
    }
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? 0);
    const timer = setTimeout(() => res.end('ok'), ms);
    res.on('close', () => clearTimeout(timer));
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const release = () => held.splice(0).forEach((answer) => answer());
  return { server, port, release };
}

interface Reply {
  status: number;
  connection: string | undefined;
}

/** A GET over `agent` (a keep-alive agent reuses its connection, as nginx does upstream). */
function get(port: number, path: string, agent: http.Agent | false = false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }),
        );
      })
      .on('error', reject);
  });
}

/** Resolves once the server has received a request for `path` (it is then in flight). */
function received(server: http.Server, path: string): Promise<void> {
  return new Promise((resolve) => {
    const onRequest = (req: http.IncomingMessage) => {
      if (req.url !== path) return;
      server.off('request', onRequest);
      resolve();
    };
    server.on('request', onRequest);
  });
}

/** Resolves once new connections are refused (the listener has closed). */
async function refused(port: number): Promise<void> {
  while ((await tryConnect(port)) !== 'ECONNREFUSED') await sleep(20);
}

function harness(server: http.Server, options: Partial<GracefulShutdownOptions> = {}) {
  const events: string[] = [];
  const { logger, lines: logs } = capturedLogger('info');
  const shutdown = createGracefulShutdown({
    server,
    logger,
    timeoutMs: 5_000,
    drainDelayMs: 0,
    onStart: () => events.push('readiness fails'),
    handlersIdle: () => Promise.resolve(),
    closeDependencies: () => {
      events.push('dependencies closed');
      return Promise.resolve();
    },
    ...options,
  });
  // Recorded on the server's side: the client learns of the end a moment later.
  server.on('request', (req, res) =>
    res.on('finish', () => events.push(`answered ${req.url ?? ''}`)),
  );
  return { shutdown, events, logs };
}

// Bounds below are far from what they rule out (a 65 s keep-alive timeout), so a busy machine
// cannot fail them; orderings are asserted on events, never on sleeps.
describe('graceful shutdown', () => {
  let server: http.Server;
  let port: number;
  let release: () => void;
  beforeEach(async () => {
    ({ server, port, release } = await startServer());
  });
  afterEach(() => {
    server.closeAllConnections();
    server.close();
  });

  it('fails readiness at once, serves through the drain delay, then refuses connections while in-flight work finishes', async () => {
    const { shutdown, events } = harness(server, { drainDelayMs: 300 });
    const inFlight = received(server, '/held');
    const held = get(port, '/held');
    await inFlight;

    const done = shutdown('SIGTERM');
    expect(events).toEqual(['readiness fails']);

    // During the drain delay the instance still serves, and asks clients to reconnect elsewhere.
    expect(await get(port, '/during-drain')).toEqual({ status: 200, connection: 'close' });

    await refused(port); // the drain delay is over: the listener is closed...
    await sleep(100);
    expect(events).not.toContain('dependencies closed'); // ...but the held request still runs

    release();
    expect((await held).status).toBe(200);
    expect(await done).toBe(true);
    expect(events).toEqual([
      'readiness fails',
      'answered /during-drain',
      'answered /held',
      'dependencies closed',
    ]);
  });

  it('waits for handlers still running (their clients gone) before closing dependencies', async () => {
    let release: () => void = () => {};
    const handlerDone = new Promise<void>((resolve) => (release = resolve));
    const { shutdown, events } = harness(server, {
      handlersIdle: () => handlerDone.then(() => void events.push('handlers idle')),
    });
    const done = shutdown('SIGTERM');
    await refused(port);
    await sleep(100);
    expect(events).toEqual(['readiness fails']);
    release();
    expect(await done).toBe(true);
    expect(events).toEqual(['readiness fails', 'handlers idle', 'dependencies closed']);
  });

  it('closes a keep-alive connection that was busy when the listener closed, without waiting for its keep-alive timeout', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const { shutdown } = harness(server);
    const inFlight = received(server, '/slow?ms=300');
    const slow = get(port, '/slow?ms=300', agent);
    await inFlight;
    const start = Date.now();
    const done = shutdown('SIGTERM');
    expect((await slow).status).toBe(200);
    expect(await done).toBe(true);
    // Far below the 65 s keep-alive timeout the connection would otherwise be held for.
    expect(Date.now() - start).toBeLessThan(20_000);
    agent.destroy();
  });

  it('closes idle keep-alive connections so they do not hold the shutdown open', async () => {
    const agent = new http.Agent({ keepAlive: true });
    await get(port, '/', agent); // leaves an idle keep-alive connection behind
    const { shutdown } = harness(server);
    const start = Date.now();
    expect(await shutdown('SIGTERM')).toBe(true);
    expect(Date.now() - start).toBeLessThan(20_000);
    agent.destroy();
  });

  it('gives up (false) when in-flight work outlasts the timeout', async () => {
    const { shutdown, logs } = harness(server, { timeoutMs: 300 });
    const inFlight = received(server, '/slow?ms=30000');
    void get(port, '/slow?ms=30000').catch(() => {});
    await inFlight;
    expect(await shutdown('SIGTERM')).toBe(false);
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: expect.stringMatching(/timed out/) }),
    );
  });

  it('runs once: a second call returns the first one', async () => {
    const { shutdown, events } = harness(server, { drainDelayMs: 50 });
    const first = shutdown('SIGINT');
    expect(shutdown('SIGINT')).toBe(first);
    expect(await first).toBe(true);
    expect(events).toEqual(['readiness fails', 'dependencies closed']);
  });

  it('reports failure (false) when closing a dependency fails', async () => {
    const { shutdown, logs } = harness(server, {
      closeDependencies: () => Promise.reject(new Error('redis would not quit')),
    });
    expect(await shutdown('SIGTERM')).toBe(false);
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'shutdown failed' }));
  });
});
