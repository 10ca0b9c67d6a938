import {
  envLabel,
  expressRatio,
  floorRatio,
  formatRatio,
  variantRatio,
  type Measurement,
  SOAK_MIN_FULL_COLLECTIONS,
  type SoakReport,
  type Target,
} from './report';

/** Concurrent logins in the login burst (fewer than BENCH_CONNECTIONS: each one hashes). */
export const LOGIN_BURST_CONNECTIONS = 32;

/** A scenario measured again on a server with more settings, in the same rounds. */
export interface Variant {
  /** The scenario it varies (`login`, `refresh`). */
  of: string;
  id: string;
  /** For server names: `audit-off`. */
  name: string;
  /** The settings the variant's server gets on top of the bench's. */
  env: Readonly<Record<string, string>>;
  /** The target: the scenario's requests/s at least this times the variant's (none: a comparison). */
  min?: number;
  /** Run by default though it has no target: a comparison the README's table shows. */
  always?: boolean;
}

/**
 * What an audited sign-in costs: login and refresh with the audit log on (the default) against
 * the same with `AUDIT_ENABLED=false`. (Until that setting exists the two are the same app.)
 */
export const VARIANTS: readonly Variant[] = [
  {
    of: 'login',
    id: 'login-audit-off',
    name: 'audit-off',
    env: { AUDIT_ENABLED: 'false' },
    min: 0.9,
  },
  {
    of: 'refresh',
    id: 'refresh-audit-off',
    name: 'audit-off',
    env: { AUDIT_ENABLED: 'false' },
    min: 0.9,
  },
  // What starting the session check while the API-wide limit is counted brings: the same app with
  // a margin no client ever has room above, so every check waits for the count (as before it).
  {
    of: 'me',
    id: 'me-sequential',
    name: 'sequential',
    env: { RATE_LIMIT_API_OVERLAP_MARGIN: '1000000000' },
  },
  // What the session check cache brings, and what /me costs without it: every request reads the
  // database. The bench's /me sends one token from every connection, so with the cache nearly
  // every check is answered from memory (the table's notes give the share).
  {
    of: 'me',
    id: 'me-no-session-cache',
    name: 'no-session-cache',
    env: { AUTH_SESSION_CACHE_MS: '0' },
    always: true,
  },
];

/**
 * The targets the README's Performance section states, checked against one run's measurements:
 * ratios to bare Express, the event-loop delay during the login burst, and no error responses.
 */
export function targets(
  measurements: readonly Measurement[],
  {
    redis,
    refreshBaseline,
    soak,
  }: { redis: boolean; refreshBaseline?: number | undefined; soak?: SoakReport | undefined },
) {
  const list: Target[] = [];
  /** A scenario against its own floor reference (the same work with nothing around it). */
  const floorTarget = (id: string, name: string, min: number) => {
    const r = floorRatio({ measurements: [...measurements] }, id);
    if (r === undefined) return;
    list.push({
      name,
      expected: `>= ${min.toFixed(2)}x ${r.floor.title}`,
      actual: rounds(r),
      met: r.ratio >= min,
    });
  };
  const ratioTarget = (id: string, name: string, min: number) => {
    const r = expressRatio({ measurements: [...measurements] }, id);
    if (r === undefined) return;
    list.push({
      name,
      expected: `>= ${min.toFixed(2)}x bare Express`,
      actual: rounds(r),
      met: r.ratio >= min,
    });
  };
  ratioTarget('live', 'GET /health/live', 1.0);
  floorTarget(
    'me',
    `GET /api/auth/me with the session check, full stack, ${redis ? 'Redis' : 'memory'} store`,
    0.75,
  );
  floorTarget('refresh', 'POST /api/auth/refresh, full stack', 0.75);
  const refresh = measurements.find((m) => m.id === 'refresh');
  if (refresh && refreshBaseline) {
    const times = refresh.requestsPerSec / refreshBaseline;
    list.push({
      name: 'POST /api/auth/refresh against the code before the one-statement rotation',
      expected: `>= 3.00x ${refreshBaseline} req/s (BENCH_REFRESH_BASELINE)`,
      actual: `${times.toFixed(2)}x (${Math.round(refresh.requestsPerSec)} req/s)`,
      met: times >= 3,
    });
  }
  floorTarget('login', `POST /api/auth/login, ${LOGIN_BURST_CONNECTIONS} concurrent`, 0.8);
  for (const variant of VARIANTS) {
    const r = variantRatio({ measurements: [...measurements] }, variant.id);
    if (!r || variant.min === undefined) continue;
    list.push({
      name: `${r.base.title} against itself with ${envLabel(variant.env)}`,
      expected: `>= ${variant.min.toFixed(2)}x`,
      actual: rounds(r),
      met: r.ratio >= variant.min,
    });
  }
  const login = measurements.find((m) => m.id === 'login');
  const burst = `event-loop delay p99 during ${LOGIN_BURST_CONNECTIONS} concurrent logins`;
  if (login?.extra?.eventLoopWindows === 0) {
    list.push({
      name: burst,
      expected: '< 20 ms',
      actual: 'not measured: the burst was shorter than 3 s (raise BENCH_DURATION)',
      met: false,
    });
  } else if (login?.extra?.eventLoopP99Ms !== undefined) {
    const p99 = login.extra.eventLoopP99Ms;
    list.push({
      name: burst,
      expected: '< 20 ms',
      actual: `${p99.toFixed(1)} ms (worst of ${login.extra.eventLoopWindows} one-second windows)`,
      met: p99 < 20,
    });
  }
  if (soak) {
    list.push({
      name: `memory over a ${soak.durationSec} s mixed soak (BENCH_SOAK)`,
      expected: `no upward trend after warm-up, judged over at least ${SOAK_MIN_FULL_COLLECTIONS} full collections`,
      actual: `RSS ${soak.rssSlopeMbPerMin.toFixed(2)} MB/min, heap after full collections ${soak.heapAfterGcSlopeMbPerMin.toFixed(2)} MB/min (${soak.fullCollections} of them)`,
      met: !soak.upwardTrend && soak.fullCollections >= SOAK_MIN_FULL_COLLECTIONS,
    });
  }
  const errors = measurements.reduce((sum, m) => sum + m.errors, 0) + (soak ? soak.errors : 0);
  list.push({
    name: 'error responses in every scenario (deliberate 429s aside)',
    expected: '0',
    actual: String(errors),
    met: errors === 0,
  });
  return list;
}

/** `0.80x`, or `median 0.80x (0.71-0.92 over 3 rounds)`. */
function rounds(r: Parameters<typeof formatRatio>[0]): string {
  return r.rounds > 1
    ? `median ${r.ratio.toFixed(2)}x (${r.min.toFixed(2)}-${r.max.toFixed(2)} over ${r.rounds} rounds)`
    : formatRatio(r);
}
