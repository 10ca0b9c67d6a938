import type { SoakReport } from '../../bench/report';
import { soakVerdict } from '../../bench/report';
import { memoryTrend } from '../../bench/scenarios/soak';
import { targets } from '../../bench/targets';

/**
 * A 300 s soak sampled every 5 s as the bench samples it: RSS, the heap in use at the moment (a
 * sawtooth of the collector's cycles, 40 to 180 MB), and the heap after the latest full
 * collection (one every 70 s), whose level `live(seconds)` gives.
 */
function soak(live: (seconds: number) => number, rss = () => 330): SoakReport['samples'] {
  const samples: SoakReport['samples'] = [];
  let lastCollection: number | null = null;
  for (let seconds = 0; seconds <= 300; seconds += 5) {
    if (seconds > 0 && seconds % 70 === 0) lastCollection = live(seconds);
    const used = 40 + ((seconds % 70) / 70) * 140;
    samples.push([seconds, rss(), used, lastCollection]);
  }
  return samples;
}

const report = (samples: SoakReport['samples']): SoakReport => ({
  durationSec: 300,
  samples,
  ...memoryTrend(samples),
  requests: { me: 1 },
  errors: 0,
});
const soakTarget = (s: SoakReport) => targets([], { redis: true, soak: s })[0]!;

describe('the soak memory judgment (bench/scenarios/soak.ts)', () => {
  it('sees no trend in a flat live set, whatever phase of the sawtooth the window ends in', () => {
    // The heap in use ends the window near the top of a climb: its own slope is steep. No two
    // collections leave exactly the same heap.
    const s = report(soak((seconds) => 45 + (seconds % 140) / 100));
    expect(s.upwardTrend).toBe(false);
    expect(s.fullCollections).toBeGreaterThanOrEqual(2);
    expect(Math.abs(s.heapAfterGcSlopeMbPerMin)).toBeLessThan(0.5);
  });

  it('flags a live set that grows, and RSS that grows', () => {
    const leaking = report(soak((seconds) => 45 + seconds / 5));
    expect(leaking.upwardTrend).toBe(true);
    expect(leaking.heapAfterGcSlopeMbPerMin).toBeGreaterThan(5);
    expect(soakTarget(leaking).met).toBe(false);

    let rss = 300;
    const swelling = report(
      soak(
        () => 45,
        () => (rss += 1),
      ),
    );
    expect(swelling.upwardTrend).toBe(true);
    expect(swelling.rssSlopeMbPerMin).toBeCloseTo(12, 0);
  });

  it('does not judge the heap on too few full collections', () => {
    // One collection before the warm-up ended, none after: a flat line that proves nothing.
    const samples = soak(() => 45).map(
      ([seconds, rss, used]) =>
        [seconds, rss, used, seconds >= 70 ? 45 : null] as SoakReport['samples'][number],
    );
    const s = report(samples);
    expect(s.fullCollections).toBe(0);
    expect(s.upwardTrend).toBe(false);
    expect(soakVerdict(s)).toBe('too few full collections (0) to judge the heap');
    expect(soakTarget(s)).toMatchObject({ met: false });
  });

  it('meets the target on a flat soak with enough collections', () => {
    const samples = soak(() => 45).map(
      ([seconds, rss, used], i) =>
        [seconds, rss, used, 45 + (i % 2) * 0.5] as SoakReport['samples'][number],
    );
    const s = report(samples);
    expect(s.fullCollections).toBeGreaterThanOrEqual(3);
    expect(soakVerdict(s)).toBe('no upward trend');
    expect(soakTarget(s)).toMatchObject({ met: true });
  });
});
