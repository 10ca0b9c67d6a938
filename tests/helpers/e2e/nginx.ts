import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { findBinary } from './binaries';
import { spawnTracked, type RunningProcess } from './child-processes';
import { freePort, waitForPort } from './ports';

/** An nginx this test owns, in front of app instances. */
export interface NginxServer {
  url: string;
  port: number;
  /** Rewrites the upstream list and reloads nginx gracefully. */
  setUpstreams(ports: readonly number[]): void;
  /** Access log lines so far: `<request id> <status> <method> <path> upstream=<addr>`. */
  accessLog(): string[];
  destroy(): Promise<void>;
}

/**
 * Starts nginx with its own prefix in a temp folder, as a reverse proxy with a `least_conn`
 * upstream over app instances on 127.0.0.1, setting the headers the app's TRUST_PROXY expects.
 */
export async function startNginx(upstreamPorts: readonly number[]): Promise<NginxServer> {
  const binary = findBinary('nginx');
  const port = await freePort();
  const prefix = mkdtempSync(path.join(os.tmpdir(), 'e2e-nginx-'));
  for (const sub of ['logs', 'temp']) mkdirSync(path.join(prefix, sub));
  const conf = path.join(prefix, 'nginx.conf');
  const upstreams = path.join(prefix, 'upstreams.conf');
  const writeUpstreams = (ports: readonly number[]) =>
    writeFileSync(
      upstreams,
      ports.map((p) => `server 127.0.0.1:${p} max_fails=1 fail_timeout=2s;`).join('\n') + '\n',
    );
  writeUpstreams(upstreamPorts);
  writeFileSync(
    conf,
    `
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  client_body_temp_path ${prefix}/temp/body;
  proxy_temp_path ${prefix}/temp/proxy;
  fastcgi_temp_path ${prefix}/temp/fastcgi;
  uwsgi_temp_path ${prefix}/temp/uwsgi;
  scgi_temp_path ${prefix}/temp/scgi;
  log_format upstream '$request_id $status $request_method $uri upstream=$upstream_addr';
  access_log ${prefix}/logs/access.log upstream;
  upstream app {
    least_conn;
    include ${upstreams};
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Request-Id $request_id;
    }
  }
}
`,
  );
  // nginx running as root drops its workers to `nobody`, which must be able to use the folder.
  execFileSync('chmod', ['-R', 'a+rwX', prefix]);
  const proc: RunningProcess = spawnTracked(binary, [
    '-p',
    prefix,
    '-c',
    conf,
    '-e',
    `${prefix}/logs/error.log`,
  ]);
  await waitForPort(port).catch((error: Error) => {
    throw new Error(`nginx did not start: ${error.message}\n${proc.output()}`);
  });
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    setUpstreams(ports) {
      writeUpstreams(ports);
      execFileSync(binary, [
        '-p',
        prefix,
        '-c',
        conf,
        '-e',
        `${prefix}/logs/error.log`,
        '-s',
        'reload',
      ]);
    },
    accessLog: () =>
      readFileSync(path.join(prefix, 'logs', 'access.log'), 'utf8')
        .split('\n')
        .filter(Boolean),
    async destroy() {
      await proc.stop('SIGQUIT');
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
