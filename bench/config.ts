import path from 'node:path';
import { VARIANTS } from './targets';

/** The scenario groups `BENCH_ONLY` selects from, in the order they run. */
export const GROUPS = ['reference', 'single', 'cluster', 'nginx'] as const;
export type Group = (typeof GROUPS)[number];

/** The bench's knobs, read once from the environment. */
export interface BenchConfig {
  /** The Node binary for the servers and the load generator (`BENCH_NODE`). */
  node: string;
  /** Seconds per scenario (`BENCH_DURATION`, default 10). */
  durationSec: number;
  /** Seconds of warm-up before each (`BENCH_WARMUP`, default 3). */
  warmupSec: number;
  /**
   * Rounds of each scenario that has a floor reference or a variant, each round measuring the
   * scenario and those alternated (`BENCH_REPEAT`, default 3): ratios are medians of rounds.
   */
  repeat: number;
  /**
   * The variants to run (`BENCH_VARIANTS`: ids from bench/targets.ts, comma-separated, `all` or
   * `none`; default those with a target, and those marked `always`).
   */
  variants: readonly string[];
  /** Concurrent connections of the load (`BENCH_CONNECTIONS`, default 50). */
  connections: number;
  /** The scenario groups to run (`BENCH_ONLY`, comma-separated; default all). */
  groups: ReadonlySet<Group>;
  /** A real PostgreSQL (`DATABASE_URL`); the embedded database otherwise. */
  databaseUrl: string | undefined;
  /** A real Redis (`REDIS_URL`); the memory store otherwise. */
  redisUrl: string | undefined;
  /** More app settings for every instance (`BENCH_APP_ENV`, a JSON object). */
  extraAppEnv: Record<string, string>;
  /** Seconds of the soak scenario (`BENCH_SOAK`; 0, the default, skips it). */
  soakSec: number;
  /**
   * The refresh rate of the code this change started from, measured on the same machine
   * (`BENCH_REFRESH_BASELINE`, req/s): the refresh target asks for 3x it. Unset: not checked.
   */
  refreshBaseline: number | undefined;
}

/** A knob with a value the bench cannot use: reported as is, exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Reads the knobs from `env` (the environment only: `.env` is not read). */
export function readBenchConfig(env: NodeJS.ProcessEnv): BenchConfig {
  return {
    node: env.BENCH_NODE ? path.resolve(env.BENCH_NODE) : process.execPath,
    durationSec: wholeNumber(env, 'BENCH_DURATION', 10),
    warmupSec: wholeNumber(env, 'BENCH_WARMUP', 3, true),
    repeat: wholeNumber(env, 'BENCH_REPEAT', 3),
    variants: variants(env.BENCH_VARIANTS),
    connections: wholeNumber(env, 'BENCH_CONNECTIONS', 50),
    groups: groups(env.BENCH_ONLY),
    databaseUrl: env.DATABASE_URL || undefined,
    redisUrl: env.REDIS_URL || undefined,
    extraAppEnv: appEnv(env.BENCH_APP_ENV),
    soakSec: wholeNumber(env, 'BENCH_SOAK', 0, true),
    refreshBaseline: env.BENCH_REFRESH_BASELINE
      ? wholeNumber(env, 'BENCH_REFRESH_BASELINE', 1)
      : undefined,
  };
}

function wholeNumber(env: NodeJS.ProcessEnv, name: string, fallback: number, zeroOk = false) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < (zeroOk ? 0 : 1))
    throw new UsageError(`${name} must be a whole number${zeroOk ? '' : ' above 0'}, got "${raw}"`);
  return value;
}

function variants(raw: string | undefined): readonly string[] {
  const known = VARIANTS.map((v) => v.id);
  if (!raw) return VARIANTS.filter((v) => v.min !== undefined || v.always).map((v) => v.id);
  if (raw === 'all') return known;
  if (raw === 'none') return [];
  const ids = raw.split(',').map((id) => id.trim());
  const unknown = ids.filter((id) => !known.includes(id));
  if (unknown.length > 0)
    throw new UsageError(
      `BENCH_VARIANTS takes all, none or ${known.join(', ')}; got ${unknown.join(', ')}`,
    );
  return ids;
}

function groups(raw: string | undefined): ReadonlySet<Group> {
  if (!raw) return new Set(GROUPS);
  const names = raw.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(GROUPS as readonly string[]).includes(name));
  if (unknown.length > 0)
    throw new UsageError(`BENCH_ONLY takes ${GROUPS.join(', ')}; got ${unknown.join(', ')}`);
  return new Set(names as Group[]);
}

function appEnv(raw: string | undefined): Record<string, string> {
  if (!raw) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new UsageError(`BENCH_APP_ENV must be a JSON object of settings, got ${raw}`);
  return Object.fromEntries(Object.entries(parsed).map(([key, value]) => [key, String(value)]));
}
