import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { findBinary } from './binaries';
import { eventually } from './eventually';
import { freePort, waitForPort } from './ports';
import { startProcess } from './processes';
import { makeTempDir, removeTempDir } from './temp-dirs';

/** The repository's nginx/ folder: what production runs. */
export const SHIPPED_NGINX_DIR = path.resolve(__dirname, '..', 'nginx');

/** One line of the shipped `main` access log format. */
export interface AccessLogEntry {
  method: string;
  path: string;
  status: number;
  /** Every upstream nginx tried, in order (more than one when it retried another replica). */
  upstreams: string[];
  /** The request id nginx forwarded (the client's X-Request-Id when it sent one). */
  requestId: string;
}

export interface NginxOptions {
  /** The replicas, `host:port` each; with none, a single `down` server (nginx needs one). */
  upstreams?: readonly string[];
  /**
   * Lift `keepalive_requests` out of reach. nginx closes a client's keep-alive connection after
   * 1,000 requests, announcing it with `Connection: close`; autocannon does not honour that
   * header and writes its next request anyway, which nginx answers with a reset: 2 to 6 "errors"
   * per 10 s run that no real client would see (measured; none once the limit is out of reach).
   * Only the bench needs this.
   */
  endlessKeepAlive?: boolean;
  /** Where nginx's stdout and stderr go (default: memory). */
  outputFile?: string;
}

/** The shipped nginx/ folder copied into a temp prefix, ready for `nginx -p <prefix>`. */
export interface NginxPrefix {
  prefix: string;
  conf: string;
  errorLog: string;
  accessLog: string;
  upstreamsFile: string;
  /** Writes the upstream list (`host:port` each) as the deploy scripts do. */
  writeUpstreams: (addresses: readonly string[]) => void;
}

/**
 * Copies the SHIPPED configuration (nginx/nginx.conf, conf.d/api.conf, upstreams/) into a temp
 * prefix for `nginx -p <prefix> -c <prefix>/nginx.conf`, changing only what cannot run here as
 * shipped, each by an exact replacement that fails loudly when the shipped file no longer has the
 * line:
 * - conf.d/api.conf: `listen 80` becomes `listen 127.0.0.1:<port>` (80 needs the machine);
 * - nginx.conf: `pid` and `error_log` lines are added and the access log moves into the prefix
 *   (the defaults are the machine's /run/nginx.pid and /var/log/nginx, shared with any other nginx);
 * - upstreams/api.conf is written with the given addresses (the shipped `api:3001` resolves only on
 *   the compose network);
 * - with `endlessKeepAlive`, `keepalive_requests` is added next to `keepalive_timeout`.
 */
export function prepareNginx(
  port: number,
  { upstreams = [], endlessKeepAlive = false }: NginxOptions = {},
): NginxPrefix {
  const prefix = makeTempDir('harness-nginx-');
  cpSync(SHIPPED_NGINX_DIR, prefix, { recursive: true });
  mkdirSync(path.join(prefix, 'logs'));
  const conf = path.join(prefix, 'nginx.conf');
  const errorLog = path.join(prefix, 'logs', 'error.log');
  const accessLog = path.join(prefix, 'logs', 'access.log');
  const upstreamsFile = path.join(prefix, 'upstreams', 'api.conf');

  replaceOnce(
    conf,
    /^worker_processes /m,
    `pid ${path.join(prefix, 'nginx.pid')};\nerror_log ${errorLog};\nworker_processes `,
  );
  replaceOnce(
    conf,
    /access_log \/var\/log\/nginx\/access\.log main;/,
    `access_log ${accessLog} main;`,
  );
  if (endlessKeepAlive)
    replaceOnce(
      conf,
      /^(\s*)keepalive_timeout 65s;$/m,
      '$1keepalive_timeout 65s;\n$1keepalive_requests 100000000;',
    );
  replaceOnce(
    path.join(prefix, 'conf.d', 'api.conf'),
    /listen 80 default_server;/,
    `listen 127.0.0.1:${port} default_server;`,
  );
  const writeUpstreams = (addresses: readonly string[]) =>
    writeFileSync(
      upstreamsFile,
      addresses.length === 0
        ? 'server 127.0.0.1:9 down; # no instance yet\n'
        : addresses.map((a) => `server ${a} max_fails=3 fail_timeout=10s;`).join('\n') + '\n',
    );
  writeUpstreams(upstreams);
  // nginx running as root drops its workers to an unprivileged user, which must reach the prefix.
  execFileSync('chmod', ['-R', 'a+rwX', prefix]);
  return { prefix, conf, errorLog, accessLog, upstreamsFile, writeUpstreams };
}

/** nginx running the shipped configuration, in a temp prefix the caller owns. */
export interface Nginx {
  url: string;
  port: number;
  prefix: string;
  /** The upstream list the deploy scripts rewrite: `<prefix>/upstreams/api.conf`. */
  upstreamsFile: string;
  /** nginx's error log, in the prefix. */
  errorLog: string;
  /** The options that point `scripts/deploy-*.sh --driver local` at this nginx. */
  deployArgs: string[];
  /** Rewrites the upstream list (`host:port` each) and reloads, as the deploy scripts do. */
  setUpstreams(addresses: readonly string[]): void;
  /** The addresses the upstream list names now (servers marked `down` left out). */
  upstreamAddresses(): string[];
  /** The access log so far, parsed. */
  accessLog(): AccessLogEntry[];
  /**
   * Resolves with the entries after the first `mark` ones that match `filter`, once there are at
   * least `count` of them: nginx writes a request's line after it has sent the reply, so a client
   * that has all its replies may read the log before the last lines are in.
   */
  accessLogAfter(
    mark: number,
    count: number,
    filter?: (entry: AccessLogEntry) => boolean,
  ): Promise<AccessLogEntry[]>;
  /** Stops nginx gracefully (SIGQUIT) and removes its prefix. */
  destroy(): Promise<void>;
}

/**
 * Starts nginx on the shipped configuration (see {@link prepareNginx} for the few lines changed)
 * on a free port. `-g 'daemon off;'` keeps the master attached, so it can be stopped.
 */
export async function startNginx(options: NginxOptions = {}): Promise<Nginx> {
  const binary = findBinary('nginx');
  const port = await freePort();
  const { prefix, conf, errorLog, accessLog, upstreamsFile, writeUpstreams } = prepareNginx(
    port,
    options,
  );
  const nginxArgs = ['-p', prefix, '-c', conf, '-e', errorLog];
  const proc = startProcess(binary, [...nginxArgs, '-g', 'daemon off;'], {
    name: 'nginx',
    outputFile: options.outputFile,
  });
  await waitForPort(port, { owner: proc }).catch(async (error: unknown) => {
    await proc.stop('SIGKILL');
    throw error;
  });

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    prefix,
    upstreamsFile,
    errorLog,
    deployArgs: ['--nginx-bin', binary, '--nginx-prefix', prefix],
    setUpstreams(addresses) {
      writeUpstreams(addresses);
      execFileSync(binary, [...nginxArgs, '-s', 'reload']);
    },
    upstreamAddresses: () =>
      [...readFileSync(upstreamsFile, 'utf8').matchAll(/^server (\S+)(?![^;]*\bdown\b)/gm)].map(
        (match) => match[1]!,
      ),
    accessLog: () => parseAccessLog(readFileSync(accessLog, 'utf8')),
    accessLogAfter: (mark, count, filter = () => true) =>
      eventually(() => parseAccessLog(readFileSync(accessLog, 'utf8')).slice(mark).filter(filter), {
        describe: `${count} more access log lines`,
        intervalMs: 20,
        until: (entries) => entries.length >= count,
      }),
    async destroy() {
      await proc.stop('SIGQUIT');
      removeTempDir(prefix);
    },
  };
}

function replaceOnce(file: string, pattern: RegExp, replacement: string): void {
  const text = readFileSync(file, 'utf8');
  const matches = text.match(new RegExp(pattern.source, `${pattern.flags}g`)) ?? [];
  if (matches.length !== 1)
    throw new Error(`${file}: expected one match of ${String(pattern)}, found ${matches.length}`);
  writeFileSync(file, text.replace(pattern, replacement));
}

// '$remote_addr - [$time_local] "$request" $status $body_bytes_sent rt=... urt=... upstream=... rid=...'
const LINE = /"(\S+) (\S+) [^"]*" (\d{3}) .* upstream=(.*) rid=(\S+)$/;

function parseAccessLog(text: string): AccessLogEntry[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const match = LINE.exec(line);
      if (!match) throw new Error(`unexpected access log line: ${line}`);
      const [, method, url, status, upstream, requestId] = match as unknown as string[];
      return {
        method: method!,
        path: url!.split('?')[0]!,
        status: Number(status),
        upstreams: upstream === '-' ? [] : upstream!.split(/, | : /),
        requestId: requestId!,
      };
    });
}
