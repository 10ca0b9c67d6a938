import http from 'node:http';
import net from 'node:net';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { createLogger } from '../../src/logger';
import { createShutdown, type ShutdownOptions } from '../../src/shutdown';

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

/** Resolves with the error code of a new TCP connection attempt, or 'connected'. */
function connect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? 'error'));
  });
}

function harness(server: http.Server, options: Partial<ShutdownOptions> = {}) {
  const events: string[] = [];
  let exited: (code: number) => void = () => {};
  const exitCode = new Promise<number>((resolve) => (exited = resolve));
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger({
    level: 'info',
    instanceId: 'test',
    destination: new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        callback();
      },
    }),
  });
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
    const { shutdown, events, exitCode } = harness(server, { drainDelayMs: 300 });
    const slow = get(port, '/slow?ms=600');
    await sleep(50); // the slow request is in flight

    shutdown('SIGTERM');
    expect(events).toEqual(['readiness fails']);

    // During the drain delay the instance still serves, and asks clients to reconnect elsewhere.
    expect(await get(port, '/during-drain')).toEqual({ status: 200, connection: 'close' });

    await sleep(400); // past the drain delay
    expect(await connect(port)).toBe('ECONNREFUSED');

    expect((await slow).status).toBe(200);
    expect(await exitCode).toBe(0);
    expect(events).toEqual([
      'readiness fails',
      'answered /during-drain',
      'answered /slow?ms=600',
      'dependencies closed',
      'exit 0',
    ]);
  });

  it('closes a keep-alive connection that was busy when the listener closed, without waiting for its keep-alive timeout', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const { shutdown, exitCode } = harness(server);
    const slow = get(port, '/slow?ms=300', agent);
    await sleep(50);
    const start = Date.now();
    shutdown('SIGTERM');
    expect((await slow).status).toBe(200);
    expect(await exitCode).toBe(0);
    // Far below the 65 s keep-alive timeout the connection would otherwise be held for.
    expect(Date.now() - start).toBeLessThan(2_000);
    agent.destroy();
  });

  it('closes idle keep-alive connections so they do not hold the shutdown open', async () => {
    const agent = new http.Agent({ keepAlive: true });
    await get(port, '/', agent); // leaves an idle keep-alive connection behind
    const { shutdown, exitCode } = harness(server);
    const start = Date.now();
    shutdown('SIGTERM');
    expect(await exitCode).toBe(0);
    expect(Date.now() - start).toBeLessThan(2_000);
    agent.destroy();
  });

  it('exits 1 when in-flight work outlasts the timeout', async () => {
    const { shutdown, exitCode, logs } = harness(server, { timeoutMs: 300 });
    void get(port, '/slow?ms=3000').catch(() => {});
    await sleep(50);
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
