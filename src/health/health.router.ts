import { type RequestHandler, type Response, Router } from 'express';
import { Registry } from 'prom-client';
import type { MetricsView } from '../metrics/metric-names';
import { type Readiness, withTimeout } from './readiness';
import type { StatusProvider } from './status-provider';

export interface ProbeDeps {
  readiness: () => Promise<Readiness>;
}

// The liveness answer never changes: built once, written without Express's per-response work
// (ETag hashing, content-type negotiation), because probes arrive every second from every
// load balancer and orchestrator.
const LIVE_BODY = JSON.stringify({ status: 'ok' });
const LIVE_HEADERS = {
  'Content-Type': 'application/json; charset=utf-8',
  'Content-Length': String(Buffer.byteLength(LIVE_BODY)),
  'Cache-Control': 'no-store',
};

/**
 * The probes load balancers and orchestrators call. Never restricted, and mounted before the
 * rest of the app: they need no request id, security headers or CORS, and are not counted in
 * the request metrics (a probe a second would drown the real traffic's numbers).
 * - `GET /live`: the process is up and its event loop turns. It checks no dependency, so a
 *   database outage never gets healthy processes restarted; it stays 200 during shutdown, so
 *   the orchestrator does not kill a process that is draining.
 * - `GET /ready`: whether to send traffic here: 503 when the database is down or shutdown has
 *   begun, 200 otherwise (`degraded` when only Redis is down). Each check's status and latency,
 *   not its error message.
 */
export function createProbeRouter({ readiness }: ProbeDeps): Router {
  const router = Router();
  router.get('/live', (_req, res) => {
    res.writeHead(200, LIVE_HEADERS).end(LIVE_BODY);
  });
  router.get('/ready', async (_req, res) => {
    const { status, ready, checks, rateLimit } = await readiness();
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      // Without the errors: anyone can call this probe, and a driver's error names hosts and
      // ports. The restricted /health summary shows them.
      .json({
        status,
        checks: checks.map(({ error: _error, ...check }) => check),
        ...(rateLimit ? { rateLimit } : {}),
      });
  });
  return router;
}

export interface HealthDetailsDeps {
  readiness: () => Promise<Readiness>;
  /** This process's figures, or in a cluster worker the machine's. */
  metrics: MetricsView;
  /** Guards every route here (see restrictMetricsAccess). */
  access: RequestHandler;
  instanceId: string;
  version: string;
  statusProviders?: readonly StatusProvider[];
  /** Longest wait for a status provider's state. */
  providerTimeoutMs?: number;
}

/** The Prometheus text exposition format, as offered in content negotiation. */
const PROMETHEUS_TEXT = 'text/plain; version=0.0.4';

/** Keys of the metrics JSON that a status provider cannot take. */
const RESERVED_KEYS = new Set([
  'mode',
  'primary',
  'workers',
  'instanceId',
  'pid',
  'version',
  'uptimeSeconds',
  'memoryMb',
  'eventLoop',
  'requests',
]);

/**
 * What describes this process's internals, for humans and for Prometheus; every route is behind
 * `access`.
 * - `GET /health`: the summary a human reads: status, version, instance id, uptime, checks (with
 *   the error of each failing one). Same status code as `/health/ready`.
 * - `GET /health/metrics`: JSON (identity, memory, event loop, requests, and each status
 *   provider's section), or the Prometheus text format when the client prefers `text/plain`,
 *   as Prometheus's own scraper does.
 * - `GET /metrics`: always the Prometheus text format, at the path Prometheus scrapes by default.
 */
export function createHealthDetailsRouter({
  readiness,
  metrics,
  access,
  instanceId,
  version,
  statusProviders = [],
  providerTimeoutMs = 1_000,
}: HealthDetailsDeps): Router {
  const names = new Set<string>();
  for (const { name } of statusProviders) {
    if (RESERVED_KEYS.has(name) || names.has(name)) {
      throw new Error(`status provider name "${name}" is already taken in /health/metrics`);
    }
    names.add(name);
  }

  const identity = () => ({
    instanceId,
    pid: process.pid,
    version,
    uptimeSeconds: Math.round(process.uptime()),
  });

  const sendPrometheus = async (res: Response) => {
    const text = await metrics.prometheus();
    res.set('Cache-Control', 'no-store').type(Registry.PROMETHEUS_CONTENT_TYPE).send(text);
  };

  const router = Router();

  router.get('/health', access, async (_req, res) => {
    const { status, ready, checks } = await readiness();
    res
      .status(ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json({ status, ...identity(), checks });
  });

  router.get('/health/metrics', access, async (req, res) => {
    // JSON unless text/plain is preferred: browsers and curl get JSON, Prometheus gets its
    // format. The offer carries Prometheus's version parameter because its scraper asks for
    // `text/plain;version=0.0.4;q=0.5` (and `*/*;q=0.1`), which a bare `text/plain` would not match.
    if (req.accepts(['application/json', PROMETHEUS_TEXT]) === PROMETHEUS_TEXT) {
      await sendPrometheus(res);
      return;
    }
    const [summary, ...states] = await Promise.all([
      metrics.summary(),
      ...statusProviders.map((provider) => stateOf(provider, providerTimeoutMs)),
    ]);
    const sections = Object.fromEntries(
      statusProviders.map((provider, index) => [provider.name, states[index]]),
    );
    res.set('Cache-Control', 'no-store').json({ ...identity(), ...summary, ...sections });
  });

  router.get('/metrics', access, async (_req, res) => {
    await sendPrometheus(res);
  });

  return router;
}

/** A provider's state; its failure is reported in its section, not as a failed endpoint. */
async function stateOf(provider: StatusProvider, timeoutMs: number): Promise<unknown> {
  try {
    return await withTimeout(
      Promise.resolve().then(() => provider.state()),
      timeoutMs,
    );
  } catch (error) {
    return { error: (error as Error).message };
  }
}
