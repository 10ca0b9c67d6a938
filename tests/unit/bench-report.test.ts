import {
  ceilingRatio,
  floorRatio,
  markdown,
  median,
  ratio,
  svgChart,
  textTable,
  type BenchReport,
  type Measurement,
} from '../../bench/report';
import { targets } from '../../bench/targets';

const measurement = (id: string, title: string, requestsPerSec: number, errors = 0) => ({
  id,
  title,
  group: id.startsWith('ref-') ? ('reference' as const) : ('single process' as const),
  requestsPerSec,
  latencyMs: { p50: 2, p99: 8, max: 20 },
  total: requestsPerSec * 10,
  errors,
  statusCounts: { '200': requestsPerSec * 10 },
});

const report: BenchReport = {
  date: '2026-11-24',
  machine: '2 cores (test CPU)',
  node: '24.21.0',
  database: 'embedded PGlite',
  rateLimitStore: 'memory',
  connections: 50,
  durationSec: 10,
  warmupSec: 3,
  measurements: [
    measurement('ref-node-http', 'raw node:http hello-world', 40_000),
    measurement('ref-express', 'bare Express 5 hello-world', 20_000),
    {
      ...measurement('login', 'POST /api/auth/login <32>', 150),
      extra: { eventLoopP99Ms: 4.56 },
      floor: 'ref-argon2',
    },
    measurement('ref-argon2', 'argon2id floor', 200),
  ],
  skipped: [{ id: 'nginx', reason: 'nginx is not installed' }],
  targets: [{ name: 'no errors', expected: '0', actual: '0', met: true }],
};

describe('the bench report', () => {
  it('divides by the bare Express reference of the same run', () => {
    expect(ratio(report, 'ref-node-http')).toBe(2);
    expect(ratio(report, 'login')).toBeCloseTo(0.0075);
    expect(ratio(report, 'missing')).toBeUndefined();
    expect(ratio({ measurements: report.measurements.slice(2) }, 'login')).toBeUndefined();
  });

  it('prints aligned rows with ratios and the scenario notes', () => {
    const lines = textTable(report).split('\n');
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(/^raw node:http hello-world\s+40,000\s+2\s+8\s+2\.00x\s+-\s+0$/);
    // The login row: its ratio to its own floor reference, and its notes.
    expect(lines[4]).toContain('0.75x ref-argon2');
    expect(lines[4]).toContain('event-loop p99 4.6 ms');
  });

  it('writes a Markdown table, the skipped groups and the targets', () => {
    const md = markdown(report);
    expect(md).toContain('| bare Express 5 hello-world | 20,000 | 2 | 8 | 1.00x | - | 0 |  |');
    expect(md).toContain('Skipped nginx: nginx is not installed');
    expect(md).toContain('- met: no errors: 0 (target 0)');
  });

  it('lists the references first, even one measured last', () => {
    const late = {
      ...report,
      measurements: [...report.measurements.slice(1), report.measurements[0]!],
    };
    const titles = textTable(late)
      .split('\n')
      .slice(1)
      .map((line) => line.split(/\s{2,}/)[0]);
    expect(titles).toEqual([
      'bare Express 5 hello-world',
      'argon2id floor',
      'raw node:http hello-world',
      'POST /api/auth/login <32>',
    ]);
  });

  it('draws one bar per scenario and escapes text', () => {
    const svg = svgChart(report);
    expect(svg.match(/<rect x=/g)).toHaveLength(4);
    expect(svg).toContain('POST /api/auth/login &lt;32&gt;');
    expect(svg).not.toContain('<32>');
  });

  describe('measured in alternated rounds', () => {
    const rounds = (id: string, samples: number[], more: Partial<Measurement> = {}) => ({
      ...measurement(id, id, median(samples)),
      samples,
      ...more,
    });
    const alternated: BenchReport = {
      ...report,
      repeat: 3,
      measurements: [
        rounds('ref-express', [20_000, 10_000, 20_000]),
        rounds('ref-express-pg-read', [4_000, 2_000, 4_000]),
        // Each round's ratio: 0.75, 0.5, 1.0; the ratio of the medians would say 0.75 as well,
        // but the range shows how far apart the rounds were.
        rounds('me', [3_000, 1_000, 4_000], { floor: 'ref-express-pg-read' }),
        rounds('login', [90, 95, 100], { floor: 'ref-argon2' }),
        rounds('ref-argon2', [100, 100, 100]),
        rounds('login-audit-off', [100, 100, 100], {
          title: 'login without audit',
          variantOf: 'login',
          variantEnv: { AUDIT_ENABLED: 'false' },
        }),
      ],
    };

    it('reports the median of the rounds’ ratios and their range', () => {
      expect(median([3, 1, 2])).toBe(2);
      expect(median([4, 1, 2, 3])).toBe(2.5);
      expect(floorRatio(alternated, 'me')).toMatchObject({
        ratio: 0.75,
        min: 0.5,
        max: 1,
        rounds: 3,
      });
      // Paired by round: 3000/20000, 1000/10000, 4000/20000.
      expect(ratio(alternated, 'me')).toBeCloseTo(0.15);
      const table = textTable(alternated);
      expect(table).toContain('0.75x (0.50-1.00) ref-express-pg-read');
      expect(table).toContain('login / this: 0.95x (0.90-1.00)');
      expect(markdown(alternated)).toContain('ran in 3 rounds, alternated with them');
    });

    it('notes a scenario against its ceiling, as information, not a target', () => {
      const withCeiling: BenchReport = {
        ...alternated,
        measurements: [
          ...alternated.measurements,
          rounds('ref-express-pg-rotation', [4_000, 4_000, 4_000]),
          rounds('ref-named', [3_000, 2_000, 3_000], { floor: 'ref-express-pg-rotation' }),
          rounds('refresh', [2_700, 2_000, 2_400], {
            floor: 'ref-express-pg-rotation',
            ceiling: 'ref-named',
          }),
        ],
      };
      expect(ceilingRatio(withCeiling, 'refresh')).toMatchObject({ ratio: 0.9, min: 0.8, max: 1 });
      expect(textTable(withCeiling)).toContain('0.90x (0.80-1.00) of ref-named');
      const list = targets(withCeiling.measurements, { redis: true });
      expect(list.filter((t) => t.name.includes('refresh'))).toHaveLength(1);
    });

    it('judges a scenario against its variant', () => {
      const list = targets(alternated.measurements, { redis: true });
      expect(list).toContainEqual({
        name: 'login against itself with AUDIT_ENABLED=false',
        expected: '>= 0.90x',
        actual: 'median 0.95x (0.90-1.00 over 3 rounds)',
        met: true,
      });
      expect(list).toContainEqual(
        expect.objectContaining({
          name: expect.stringContaining('GET /api/auth/me'),
          actual: 'median 0.75x (0.50-1.00 over 3 rounds)',
          met: true,
        }),
      );
    });
  });
});
