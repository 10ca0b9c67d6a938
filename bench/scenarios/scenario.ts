import type { Group } from '../config';
import type { BenchContext } from '../context';

/** One step of the bench: starts what it measures, measures it, and stops it again. */
export interface Scenario {
  /** Whether it runs when these groups are selected (`BENCH_ONLY`). */
  selected(groups: ReadonlySet<Group>): boolean;
  run(context: BenchContext): Promise<void>;
}
