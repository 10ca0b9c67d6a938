/**
 * `tsx bench/compare.ts <results.json> <results.json>...`: one Markdown table of several runs
 * (Node versions, machines) side by side: req/s (median of rounds), ratio to bare Express and to
 * the floor (median of the rounds' ratios, range in brackets), then the targets of each run. What
 * the README's "Latest results" shows.
 */
import { readFileSync } from 'node:fs';
import {
  ceilingRatio,
  expressRatio,
  floorRatio,
  formatRatio,
  ordered,
  variantRatio,
  type BenchReport,
} from './report';

const reports = process.argv
  .slice(2)
  .map((file) => JSON.parse(readFileSync(file, 'utf8')) as BenchReport);
if (reports.length === 0) {
  console.error('usage: tsx bench/compare.ts <results.json>...');
  process.exit(2);
}
const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
const header = [
  'Scenario',
  ...reports.flatMap((r) => [
    `Node ${r.node.split('.').slice(0, 2).join('.')} req/s`,
    'vs Express',
    'vs floor or variant',
  ]),
];
const ids = [...new Set(reports.flatMap((r) => ordered(r).map((m) => m.id)))];
const rows = ids.map((id) => {
  const title = reports.flatMap((r) => r.measurements.filter((m) => m.id === id))[0]!.title;
  return line([
    title,
    ...reports.flatMap((r) => {
      const m = r.measurements.find((x) => x.id === id);
      if (!m) return ['-', '', ''];
      const e = expressRatio(r, id);
      const f = floorRatio(r, id);
      const v = variantRatio(r, id);
      const c = ceilingRatio(r, id);
      return [
        Math.round(m.requestsPerSec).toLocaleString('en-US'),
        e && id !== 'ref-express' ? formatRatio(e) : '',
        [
          f ? formatRatio(f) : v ? `${v.base.id} / this: ${formatRatio(v)}` : '',
          c ? `${formatRatio(c)} of the packages alone` : '',
        ]
          .filter(Boolean)
          .join('; '),
      ];
    }),
  ]);
});
console.log(
  [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows].join('\n'),
);
for (const r of reports) {
  console.log(`\nNode ${r.node} targets:`);
  for (const t of r.targets)
    console.log(`- ${t.met ? 'met' : '**missed**'}: ${t.name}: ${t.actual} (target ${t.expected})`);
}
