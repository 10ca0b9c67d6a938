import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { findBinary } from './binaries';
import { eventually } from './eventually';
import { freePort, waitForPort } from './ports';
import { startProcess, type ManagedProcess } from './processes';
import { makeTempDir, removeTempDir } from './temp-dirs';

/** One Redis data node of a {@link SentinelGroup}. */
export interface RedisNode {
  readonly port: number;
  readonly process: ManagedProcess;
}

/** A primary, its replica and three sentinels watching them, all owned by the caller. */
export interface SentinelGroup {
  /** The name the sentinels monitor the primary under. */
  readonly master: string;
  /** `host:port` of each sentinel, comma-separated: the value of `REDIS_SENTINELS`. */
  readonly sentinelList: string;
  readonly primary: RedisNode;
  readonly replica: RedisNode;
  readonly sentinels: readonly RedisNode[];
  /** The port the sentinels name as the primary now (asked of the first one that answers). */
  currentPrimaryPort(): Promise<number>;
  /** A client of the data node on `port`, with the data password (the caller quits it). */
  connect(port: number): Redis;
  destroy(): Promise<void>;
}

export interface SentinelGroupOptions {
  master?: string;
  /** `requirepass` (and `masterauth`) of the data nodes. */
  password: string;
  /** `requirepass` of the sentinels. */
  sentinelPassword: string;
  /** How long the primary must be silent before a sentinel thinks it down. */
  downAfterMs?: number;
  /** Sentinel's failover timeout (also the pause before a failed failover is retried). */
  failoverTimeoutMs?: number;
}

/**
 * Starts a Redis Sentinel group on free loopback ports, in a temp folder, nothing persisted:
 * a primary, a replica of it, and three `redis-sentinel`s with a quorum of two. Resolves once
 * the replica is in sync and every sentinel knows the replica and the other sentinels, so a
 * failover can start as soon as the primary dies.
 */
export async function startSentinelGroup({
  master = 'mymaster',
  password,
  sentinelPassword,
  downAfterMs = 1_000,
  failoverTimeoutMs = 5_000,
}: SentinelGroupOptions): Promise<SentinelGroup> {
  const redisServer = findBinary('redis-server');
  const redisSentinel = findBinary('redis-sentinel');
  const dir = makeTempDir('harness-sentinel-');
  const started: RedisNode[] = [];
  const clients: Redis[] = [];

  const startNode = async (name: string, args: string[], binary = redisServer) => {
    const port = await freePort();
    const proc = startProcess(binary, [...args, '--port', String(port)], { name });
    started.push({ port, process: proc });
    await waitForPort(port, { owner: proc });
    return { port, process: proc };
  };
  const dataArgs = (name: string) => [
    ...['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    ...['--dbfilename', `${name}.rdb`, '--requirepass', password, '--masterauth', password],
  ];
  const connect = (port: number) => {
    const client = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true });
    clients.push(client);
    return client;
  };
  const sentinelClient = (port: number) => {
    const client = new Redis({ port, host: '127.0.0.1', password: sentinelPassword });
    clients.push(client);
    return client;
  };

  const group: SentinelGroup = {
    master,
    sentinelList: '',
    primary: undefined as unknown as RedisNode,
    replica: undefined as unknown as RedisNode,
    sentinels: [],
    async currentPrimaryPort() {
      for (const sentinel of group.sentinels) {
        if (sentinel.process.exitStatus() !== undefined) continue;
        const client = sentinelClient(sentinel.port);
        try {
          const address = (await client.call(
            'SENTINEL',
            'get-master-addr-by-name',
            master,
          )) as string[];
          return Number(address[1]);
        } catch {
          // try the next sentinel
        } finally {
          client.disconnect();
        }
      }
      throw new Error('no sentinel answered');
    },
    connect,
    async destroy() {
      for (const client of clients) client.disconnect();
      await Promise.all(started.map((node) => node.process.stop('SIGTERM')));
      removeTempDir(dir);
    },
  };

  try {
    const primary = await startNode('redis-primary', dataArgs('primary'));
    const replica = await startNode('redis-replica', [
      ...dataArgs('replica'),
      ...['--replicaof', '127.0.0.1', String(primary.port)],
    ]);
    const replicaClient = connect(replica.port);
    await eventually(() => replicaClient.info('replication'), {
      describe: 'the replica to be in sync with the primary',
      until: (info) => /master_link_status:up/.test(info),
    });

    const sentinels: RedisNode[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      // Sentinel rewrites its configuration file as it learns the group: one file each.
      const file = path.join(dir, `sentinel-${i}.conf`);
      writeFileSync(
        file,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `requirepass ${sentinelPassword}`,
          // What the sentinels present to each other (they too require the password).
          `sentinel sentinel-pass ${sentinelPassword}`,
          `sentinel monitor ${master} 127.0.0.1 ${primary.port} 2`,
          `sentinel auth-pass ${master} ${password}`,
          `sentinel down-after-milliseconds ${master} ${downAfterMs}`,
          `sentinel failover-timeout ${master} ${failoverTimeoutMs}`,
          `sentinel parallel-syncs ${master} 1`,
          '',
        ].join('\n'),
      );
      const proc = startProcess(redisSentinel, [file], { name: `redis-sentinel-${i}` });
      const node = { port, process: proc };
      started.push(node);
      sentinels.push(node);
      await waitForPort(port, { owner: proc });
    }
    // Each sentinel learns the replica from the primary and the other sentinels through the
    // primary's hello channel: until then it could neither vote nor promote.
    for (const sentinel of sentinels) {
      const client = sentinelClient(sentinel.port);
      await eventually(
        async () => {
          const state = (await client.call('SENTINEL', 'master', master)) as string[];
          const field = (name: string) => Number(state[state.indexOf(name) + 1]);
          return { replicas: field('num-slaves'), otherSentinels: field('num-other-sentinels') };
        },
        {
          describe: `sentinel on port ${sentinel.port} to know the replica and the other two sentinels`,
          until: ({ replicas, otherSentinels }) => replicas === 1 && otherSentinels === 2,
        },
      );
      client.disconnect();
    }
    return Object.assign(group, {
      primary,
      replica,
      sentinels,
      sentinelList: sentinels.map(({ port }) => `127.0.0.1:${port}`).join(','),
    });
  } catch (error) {
    await group.destroy();
    throw error;
  }
}
