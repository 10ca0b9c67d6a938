import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { tryConnect } from '../../harness/ports';
import { createShutdown, type ShutdownOptions } from '../../src/shutdown';
import { capturedLogger } from '../helpers/captured-logger';

/**
 * A real HTTP server on a free port: `/slow?ms=N` answers after N ms, anything else at once.
 * Its keep-alive timeout is the production one, so a connection left open would show.
 */
async function startServer() {
  const server = http.createServer((req, res) => {
    const ms = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('ms') ?? 0);
    const timer = setTimeout(() => res.end('ok'), ms);
    res.on('close', () => clearTimeout(timer));
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return { server, port };
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

/**
 * Sends a GET to `/slow?ms=<ms>` and resolves once the server has received it (not after a fixed
 * time, which a busy machine may need more of), with its reply to come.
 */
async function slowRequestArrived(
  server: http.Server,
  port: number,
  ms: number,
  agent: http.Agent | false = false,
): Promise<{ reply: Promise<Reply> }> {
  const arrived = once(server, 'request');
  const reply = get(port, `/slow?ms=${ms}`, agent);
  reply.catch(() => {}); // awaited by the test, if at all
  await arrived;
  return { reply };
}

function harness(server: http.Server, options: Partial<ShutdownOptions> = {}) {
  const events: string[] = [];
  let exited: (code: number) => void = () => {};
  const exitCode = new Promise<number>((resolve) => (exited = resolve));
  const { logger, lines: logs } = capturedLogger('info');
  const shutdown = createShutdown({
    server,
    logger,
    timeoutMs: 5_000,
    drainDelayMs: 0,
    onStart: () => events.push('readiness fails'),
    closeDependencies: () => {
      events.push('dependencies closed');
      return Promise.resolve();
    },
    exit: (code) => {
      events.push(`exit ${code}`);
      exited(code);
    },
    ...options,
  });
  // Recorded on the server's side: the client learns of the end a moment later.
  server.on('request', (req, res) =>
    res.on('finish', () => events.push(`answered ${req.url ?? ''}`)),
  );
  return { shutdown, events, exitCode, logs };
}

describe('graceful shutdown', () => {
  let server: http.Server;
  let port: number;
  beforeEach(async () => {
    ({ server, port } = await startServer());
  });
  afterEach(() => {
    server.closeAllConnections();
    server.close();
  });

  it('fails readiness at once, serves through the drain delay, then refuses connections while in-flight work finishes', async () => {
    // The request made during the drain must reach the server before the drain ends: 2 s leaves
    // a busy machine room for that; the slow request outlasts the drain, on this event loop.
    const drainDelayMs = 2_000;
    const slowMs = drainDelayMs + 500;
    const { shutdown, events, exitCode } = harness(server, { drainDelayMs });
    const { reply: slow } = await slowRequestArrived(server, port, slowMs);

    shutdown('SIGTERM');
    expect(events).toEqual(['readiness fails']);

    // During the drain delay the instance still serves, and asks clients to reconnect elsewhere.
    expect(await get(port, '/during-drain')).toEqual({ status: 200, connection: 'close' });

    // Past the drain delay: this sleep and the drain's timer run on the same event loop, and the
    // drain's is due first.
    await sleep(drainDelayMs + 100);
    expect(await tryConnect(port)).toBe('ECONNREFUSED');

    expect((await slow).status).toBe(200);
    expect(await exitCode).toBe(0);
    expect(events).toEqual([
      'readiness fails',
      'answered /during-drain',
      `answered /slow?ms=${slowMs}`,
      'dependencies closed',
      'exit 0',
    ]);
  });

  it('closes a keep-alive connection that was busy when the listener closed, without waiting for its keep-alive timeout', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const { shutdown, exitCode } = harness(server);
    const { reply: slow } = await slowRequestArrived(server, port, 300, agent);
    const start = Date.now();
    shutdown('SIGTERM');
    expect((await slow).status).toBe(200);
    expect(await exitCode).toBe(0);
    // Far below the 65 s keep-alive timeout the connection would otherwise be held for (and
    // far above what a busy machine adds to a 300 ms request).
    expect(Date.now() - start).toBeLessThan(15_000);
    agent.destroy();
  });

  it('closes idle keep-alive connections so they do not hold the shutdown open', async () => {
    const agent = new http.Agent({ keepAlive: true });
    await get(port, '/', agent); // leaves an idle keep-alive connection behind
    const { shutdown, exitCode } = harness(server);
    const start = Date.now();
    shutdown('SIGTERM');
    expect(await exitCode).toBe(0);
    expect(Date.now() - start).toBeLessThan(15_000); // not the 65 s keep-alive timeout
    agent.destroy();
  });

  it('exits 1 when in-flight work outlasts the timeout', async () => {
    const { shutdown, exitCode, logs } = harness(server, { timeoutMs: 300 });
    await slowRequestArrived(server, port, 3000);
    shutdown('SIGTERM');
    expect(await exitCode).toBe(1);
    expect(logs).toContainEqual(
      expect.objectContaining({ msg: expect.stringMatching(/timed out/) }),
    );
  });

  it('exits 1 at once on a second signal, without waiting for the drain', async () => {
    const { shutdown, events, exitCode } = harness(server, { drainDelayMs: 2_000 });
    shutdown('SIGTERM');
    await sleep(600); // past the window in which copies of one signal are merged
    shutdown('SIGINT');
    expect(await exitCode).toBe(1);
    expect(events).toEqual(['readiness fails', 'exit 1']);
  });

  it('treats copies of one signal arriving together (Ctrl-C to a process group, relayed by pnpm or tsx) as one', async () => {
    const { shutdown, events, exitCode } = harness(server, { drainDelayMs: 50 });
    shutdown('SIGINT');
    shutdown('SIGINT');
    expect(await exitCode).toBe(0);
    expect(events).toEqual(['readiness fails', 'dependencies closed', 'exit 0']);
  });

  it('drains like any shutdown after a fatal error, then exits 1', async () => {
    const { shutdown, events, exitCode } = harness(server);
    shutdown('uncaughtException', 1);
    expect(await exitCode).toBe(1);
    expect(events).toEqual(['readiness fails', 'dependencies closed', 'exit 1']);
  });

  it('exits 1 when closing a dependency fails', async () => {
    const { shutdown, exitCode, logs } = harness(server, {
      closeDependencies: () => Promise.reject(new Error('redis would not quit')),
    });
    shutdown('SIGTERM');
    expect(await exitCode).toBe(1);
    expect(logs).toContainEqual(expect.objectContaining({ msg: 'shutdown failed' }));
  });
});
