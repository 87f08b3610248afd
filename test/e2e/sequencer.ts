import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The e2e files that take longest, longest first (file times of an idle fresh-clone CI). Files run side
 * by side (workers.ts); started last, the rehearsals of repeat.test.ts alone kept one worker busy for
 * minutes after the others had run out of files. Vitest orders by last run's durations only where its cache has them (never on a
 * fresh CI machine), so the order is written down here.
 */
const LONGEST_FIRST = [
  'upstream.test.ts',
  'signals.test.ts',
  'faults-server.test.ts',
  'repeat.test.ts',
  'pack.test.ts',
  'faults.test.ts',
  'backfill.test.ts',
  'fixes.test.ts',
  'inspect.test.ts',
  'verdicts.test.ts',
  'trust.test.ts',
  'outage.test.ts',
  'github.test.ts',
];

const rank = (spec: TestSpecification): number => {
  if (spec.project.name !== 'e2e') return LONGEST_FIRST.length;
  const at = LONGEST_FIRST.indexOf(path.basename(spec.moduleId));
  return at < 0 ? LONGEST_FIRST.length : at;
};

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    // Stable: only the named e2e files move ahead of their project's others; projects keep their order.
    const firstOf = new Map<string, number>();
    sorted.forEach((spec, i) => {
      if (!firstOf.has(spec.project.name)) firstOf.set(spec.project.name, i);
    });
    return sorted
      .map((spec, i) => ({ spec, i }))
      .sort((a, b) => {
        const project = (firstOf.get(a.spec.project.name) ?? 0) - (firstOf.get(b.spec.project.name) ?? 0);
        return project || rank(a.spec) - rank(b.spec) || a.i - b.i;
      })
      .map(({ spec }) => spec);
  }
}
