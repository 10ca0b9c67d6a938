/** One measured scenario. */
export interface Measurement {
  id: string;
  title: string;
  group: 'reference' | 'single process' | 'cluster' | 'nginx';
  requestsPerSec: number;
  latencyMs: { p50: number; p99: number; max: number };
  total: number;
  /** Responses that were neither 2xx nor a deliberate 429, plus connection errors and timeouts. */
  errors: number;
  statusCounts: Record<string, number>;
  /** Scenario-specific figures (the login burst's event-loop delay; the worst round's). */
  extra?: Record<string, number>;
  /**
   * requests/s of each round, in order, when the scenario was measured in rounds (`BENCH_REPEAT`,
   * alternated with its floor): `requestsPerSec` and the latencies are then the medians, `total`,
   * `errors` and `statusCounts` the sums.
   */
  samples?: number[];
  /**
   * Set on a variant: the same scenario on a server with more settings (`variantEnv`), measured
   * in the same rounds as the scenario `variantOf`, which is judged against it.
   */
  variantOf?: string;
  variantEnv?: Record<string, string>;
  /**
   * The id of the reference that is this scenario's floor (the same work with nothing around
   * it: the `pg` read for `/me`, the `pg` rotation for refresh, the argon2id floor for login).
   */
  floor?: string;
  /**
   * The id of a reference that does this scenario's work on the same packages and nothing of
   * the app's own (refresh: the rotation floor plus jsonwebtoken and express-rate-limit).
   * Information, not a target: the most the scenario can reach of its floor.
   */
  ceiling?: string;
}

export interface Target {
  name: string;
  expected: string;
  actual: string;
  met: boolean;
}

export interface BenchReport {
  date: string;
  machine: string;
  node: string;
  database: string;
  rateLimitStore: string;
  connections: number;
  durationSec: number;
  warmupSec: number;
  /** Rounds of each alternated scenario (`BENCH_REPEAT`); absent in reports before it existed. */
  repeat?: number;
  measurements: Measurement[];
  skipped: Array<{ id: string; reason: string }>;
  targets: Target[];
  /** The soak scenario's memory samples (`BENCH_SOAK`), when it ran. */
  soak?: SoakReport;
}

/** Fewer full collections than this after a soak's warm-up, and its heap is not judged. */
export const SOAK_MIN_FULL_COLLECTIONS = 3;

/** What a soak's memory says, in words. */
export function soakVerdict(soak: SoakReport): string {
  if (soak.upwardTrend) return 'upward trend';
  if (soak.fullCollections < SOAK_MIN_FULL_COLLECTIONS)
    return `too few full collections (${soak.fullCollections}) to judge the heap`;
  return 'no upward trend';
}

/** Memory of the app over a long mixed load. */
export interface SoakReport {
  durationSec: number;
  /**
   * [seconds since start, RSS MB, heap used MB, heap after the latest full collection MB (null
   * before the first)], one sample every few seconds.
   */
  samples: Array<[number, number, number, number | null]>;
  /** Least-squares slope after the warm-up (the first quarter), in MB per minute. */
  rssSlopeMbPerMin: number;
  heapAfterGcSlopeMbPerMin: number;
  /** Full collections seen after the warm-up: the heap is judged from {@link SOAK_MIN_FULL_COLLECTIONS}. */
  fullCollections: number;
  /** Whether RSS or the heap after full collections grew after warm-up by more than the noise allows (see soak.ts). */
  upwardTrend: boolean;
  requests: Record<string, number>;
  errors: number;
}

const EXPRESS = 'ref-express';

/** The median of some numbers (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One measurement against another: the median ratio, and the lowest and highest. */
export interface PairedRatio {
  ratio: number;
  min: number;
  max: number;
  /** Rounds compared: 1 when either was measured once. */
  rounds: number;
}

/**
 * `a` over `b`. Measured in the same rounds (alternated), each round's ratio is taken and the
 * median reported with the range: two scenarios measured minutes apart on a busy machine differ
 * by more than two measured back to back. Otherwise the ratio of their (median) requests/s.
 */
export function pairedRatio(a: Measurement, b: Measurement): PairedRatio | undefined {
  if (!b.requestsPerSec) return undefined;
  const sa = a.samples;
  const sb = b.samples;
  if (sa && sb && sa.length === sb.length && sa.length > 1 && sb.every((v) => v > 0)) {
    const ratios = sa.map((v, i) => v / sb[i]!);
    return {
      ratio: median(ratios),
      min: Math.min(...ratios),
      max: Math.max(...ratios),
      rounds: ratios.length,
    };
  }
  const r = a.requestsPerSec / b.requestsPerSec;
  return { ratio: r, min: r, max: r, rounds: 1 };
}

const find = (report: Pick<BenchReport, 'measurements'>, id: string | undefined) =>
  id === undefined ? undefined : report.measurements.find((m) => m.id === id);

/** requests/s relative to the bare Express 5 reference of the same run (median of rounds). */
export function ratio(report: Pick<BenchReport, 'measurements'>, id: string): number | undefined {
  return expressRatio(report, id)?.ratio;
}

export function expressRatio(
  report: Pick<BenchReport, 'measurements'>,
  id: string,
): PairedRatio | undefined {
  const express = find(report, EXPRESS);
  const measured = find(report, id);
  return express && measured ? pairedRatio(measured, express) : undefined;
}

/** requests/s relative to the scenario's own floor reference (see {@link Measurement.floor}). */
export function floorRatio(
  report: Pick<BenchReport, 'measurements'>,
  id: string,
): (PairedRatio & { floor: Measurement }) | undefined {
  const r = linkedRatio(report, id, 'floor');
  return r && { ...r.ratio, floor: r.reference };
}

/** requests/s relative to the scenario's ceiling reference (see {@link Measurement.ceiling}). */
export function ceilingRatio(
  report: Pick<BenchReport, 'measurements'>,
  id: string,
): (PairedRatio & { ceiling: Measurement }) | undefined {
  const r = linkedRatio(report, id, 'ceiling');
  return r && { ...r.ratio, ceiling: r.reference };
}

/** A scenario against the reference it names as its `link`. */
function linkedRatio(
  report: Pick<BenchReport, 'measurements'>,
  id: string,
  link: 'floor' | 'ceiling',
): { ratio: PairedRatio; reference: Measurement } | undefined {
  const measured = find(report, id);
  const reference = find(report, measured?.[link]);
  const ratio = measured && reference ? pairedRatio(measured, reference) : undefined;
  return ratio && reference ? { ratio, reference } : undefined;
}

/** A scenario relative to its variant (see {@link Measurement.variantOf}): base over variant. */
export function variantRatio(
  report: Pick<BenchReport, 'measurements'>,
  variantId: string,
): (PairedRatio & { base: Measurement; variant: Measurement }) | undefined {
  const variant = find(report, variantId);
  const base = find(report, variant?.variantOf);
  const r = base && variant ? pairedRatio(base, variant) : undefined;
  return r && base && variant ? { ...r, base, variant } : undefined;
}

/** `0.80x`, or `0.80x (0.71-0.92)` over several rounds. */
export function formatRatio(r: PairedRatio): string {
  return r.rounds > 1
    ? `${r.ratio.toFixed(2)}x (${r.min.toFixed(2)}-${r.max.toFixed(2)})`
    : `${r.ratio.toFixed(2)}x`;
}

/** `AUDIT_ENABLED=false` */
export const envLabel = (env: Record<string, string> | undefined) =>
  Object.entries(env ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');

const GROUP_ORDER: ReadonlyArray<Measurement['group']> = [
  'reference',
  'single process',
  'cluster',
  'nginx',
];

/** The share of a scenario's session checks answered from memory (AUTH_SESSION_CACHE_MS): `97.1%`. */
function sessionChecksFromMemory(m: Measurement): string | undefined {
  const memory = m.extra?.sessionChecksMemoryCount;
  const database = m.extra?.sessionChecksDatabaseCount;
  if (memory === undefined || database === undefined || memory + database === 0) return undefined;
  return `${fixed((100 * memory) / (memory + database), 1)}%`;
}

/** The measurements, references first (the bench measures one of them last). */
export function ordered(report: Pick<BenchReport, 'measurements'>): Measurement[] {
  return [...report.measurements].sort(
    (a, b) => GROUP_ORDER.indexOf(a.group) - GROUP_ORDER.indexOf(b.group),
  );
}

const fixed = (value: number, digits: number) => value.toFixed(digits);
const thousands = (value: number) => Math.round(value).toLocaleString('en-US');

function rows(report: BenchReport): string[][] {
  return ordered(report).map((m) => {
    const r = expressRatio(report, m.id);
    const f = floorRatio(report, m.id);
    const v = variantRatio(report, m.id);
    const c = ceilingRatio(report, m.id);
    const extra = m.extra?.eventLoopP99Ms;
    const fromMemory = sessionChecksFromMemory(m);
    const notes = [
      ...(extra === undefined ? [] : [`event-loop p99 ${fixed(extra, 1)} ms`]),
      ...(fromMemory === undefined ? [] : [`session checks from memory ${fromMemory}`]),
      ...(v ? [`${v.base.id} / this: ${formatRatio(v)}`] : []),
      ...(c ? [`${formatRatio(c)} of ${c.ceiling.id}`] : []),
    ];
    return [
      m.title,
      thousands(m.requestsPerSec),
      fixed(m.latencyMs.p50, 0),
      fixed(m.latencyMs.p99, 0),
      r === undefined ? '-' : formatRatio(r),
      f === undefined ? '-' : `${formatRatio(f)} ${f.floor.id}`,
      String(m.errors),
      notes.join('; '),
    ];
  });
}

const HEADER = [
  'Scenario',
  'req/s',
  'p50 ms',
  'p99 ms',
  'vs Express',
  'vs floor',
  'errors',
  'notes',
];

/** The table for a terminal: aligned columns. */
export function textTable(report: BenchReport): string {
  const table = [HEADER, ...rows(report)];
  const widths = HEADER.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table
    .map((row) =>
      row
        .map((cell, i) =>
          i === 0 || i === row.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function targetLines(report: BenchReport): string[] {
  return report.targets.map(
    (t) => `${t.met ? 'met   ' : 'MISSED'}  ${t.name}: ${t.actual} (target ${t.expected})`,
  );
}

export function markdown(report: BenchReport): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  const out = [
    `Measured ${report.date} on ${report.machine}, Node ${report.node}; database: ${report.database}; ` +
      `rate-limit store: ${report.rateLimitStore}; ${report.connections} connections, ` +
      `${report.durationSec} s per scenario after a ${report.warmupSec} s warm-up.` +
      (report.repeat && report.repeat > 1
        ? ` Each scenario with a floor or a variant ran in ${report.repeat} rounds, alternated with them` +
          ` (later rounds warm up 1 s): req/s and latencies are medians; each ratio is the median of the` +
          ` rounds' ratios, with the lowest and highest in brackets.`
        : ''),
    '',
    line(HEADER),
    line(HEADER.map((_, i) => (i === 0 || i === HEADER.length - 1 ? '---' : '---:'))),
    ...rows(report).map(line),
    '',
    ...report.skipped.map((s) => `Skipped ${s.id}: ${s.reason}`),
    ...(report.skipped.length > 0 ? [''] : []),
    ...(report.soak
      ? [
          `Soak: ${report.soak.durationSec} s of mixed load (${Object.entries(report.soak.requests)
            .map(([k, v]) => `${thousands(v)} ${k}`)
            .join(
              ', ',
            )}; ${report.soak.errors} errors): RSS ${fixed(report.soak.samples.at(-1)?.[1] ?? 0, 0)} MB at the end, ` +
            `slope after warm-up ${fixed(report.soak.rssSlopeMbPerMin, 2)} MB/min RSS, ${fixed(report.soak.heapAfterGcSlopeMbPerMin, 2)} MB/min heap after full collections (${report.soak.fullCollections}): ` +
            `${soakVerdict(report.soak)}.`,
          '',
        ]
      : []),
    'Targets:',
    '',
    ...report.targets.map(
      (t) => `- ${t.met ? 'met' : '**missed**'}: ${t.name}: ${t.actual} (target ${t.expected})`,
    ),
    '',
  ];
  return out.join('\n');
}

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A horizontal bar chart of requests/s, each bar labelled with its ratio to bare Express. */
export function svgChart(report: BenchReport): string {
  const barHeight = 22;
  const gap = 8;
  // About 7 px per character at 13 px: room for the longest title.
  const labelWidth = 24 + 7 * Math.max(20, ...report.measurements.map((m) => m.title.length));
  const chartWidth = 520;
  const top = 48;
  const max = Math.max(...report.measurements.map((m) => m.requestsPerSec), 1);
  const colors: Record<Measurement['group'], string> = {
    reference: '#9ca3af',
    'single process': '#2563eb',
    cluster: '#7c3aed',
    nginx: '#059669',
  };
  const bars = ordered(report).map((m, i) => {
    const y = top + i * (barHeight + gap);
    const width = Math.max(1, (m.requestsPerSec / max) * chartWidth);
    const r = ratio(report, m.id);
    const label = `${thousands(m.requestsPerSec)} req/s${r === undefined ? '' : ` (${fixed(r, 2)}x)`}`;
    return [
      `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end">${escapeXml(m.title)}</text>`,
      `<rect x="${labelWidth}" y="${y}" width="${width.toFixed(1)}" height="${barHeight}" fill="${colors[m.group]}"/>`,
      `<text x="${labelWidth + width + 6}" y="${y + 15}">${escapeXml(label)}</text>`,
    ].join('');
  });
  const height = top + report.measurements.length * (barHeight + gap) + 16;
  const width = labelWidth + chartWidth + 170;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="12" y="22" font-size="15" font-weight="bold">${escapeXml(`Requests per second, Node ${report.node} (ratio to bare Express 5)`)}</text>`,
    `<text x="12" y="38" fill="#4b5563">${escapeXml(`${report.machine}; ${report.database}; ${report.rateLimitStore}`)}</text>`,
    ...bars,
    '</svg>',
    '',
  ].join('\n');
}
