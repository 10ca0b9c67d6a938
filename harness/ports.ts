import net from 'node:net';
import { eventually, GiveUp } from './eventually';
import type { ManagedProcess } from './processes';

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Attempts one TCP connection to 127.0.0.1: `'connected'`, or the error code (`ECONNREFUSED`...). */
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

/**
 * Resolves once something accepts TCP connections on `port`. With `owner`, the process that is
 * to listen there, the wait fails at once (with its output) if that process exits first.
 */
export async function waitForPort(
  port: number,
  { owner, timeoutMs = 30_000 }: { owner?: ManagedProcess; timeoutMs?: number } = {},
): Promise<void> {
  await eventually(
    async () => {
      const outcome = await tryConnect(port);
      if (outcome !== 'connected' && owner?.exitStatus() !== undefined)
        throw new GiveUp(`${owner.name} exited (${owner.exitStatus()}):\n${owner.tail()}`);
      return outcome;
    },
    {
      describe: `port ${port} to accept connections${owner ? ` (${owner.name})` : ''}`,
      timeoutMs,
      intervalMs: 50,
      until: (outcome) => outcome === 'connected',
    },
  );
}
