import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * Seconds each e2e and integration file took in an idle fresh-clone CI (f830628; upstream.test.ts with its
 * set-up hook). The two projects run side by side on the same workers (vitest.config.ts), longest first across
 * both, so the files end together: started last, the rehearsals of repeat.test.ts alone once kept one worker
 * busy for minutes after the others ran out of files, and the integration files queued behind every e2e file
 * ran on for half a minute after the last of them. Vitest orders by last run's durations only where its cache
 * has them (never on a fresh CI machine), so the times are written down here.
 */
const SECONDS: Record<string, number> = {
  'e2e/faults-server.test.ts': 187,
  'e2e/upstream.test.ts': 178,
  'e2e/signals.test.ts': 165,
  'e2e/faults.test.ts': 162,
  'e2e/inspect.test.ts': 149,
  'e2e/pack.test.ts': 137,
  'e2e/backfill.test.ts': 132,
  'e2e/fixes.test.ts': 125,
  'e2e/repeat.test.ts': 104,
  'e2e/trust.test.ts': 99,
  'e2e/run-lifecycle.test.ts': 93,
  'e2e/sandbox.test.ts': 80,
  'e2e/verdicts.test.ts': 75,
  'e2e/github.test.ts': 62,
  'e2e/secrets.test.ts': 59,
  'e2e/outage.test.ts': 39,
  'e2e/claim.test.ts': 33,
  'e2e/proxy.test.ts': 32,
  'integration/browser/screenshot.test.ts': 30,
  'e2e/slots.test.ts': 29,
  'e2e/upload.test.ts': 23,
  'integration/sandbox/flow-starter.test.ts': 15,
  'integration/report/report.test.ts': 14,
  'integration/cli/output.test.ts': 10,
  'integration/steps/upload.test.ts': 8,
};

/** A file not listed yet: an e2e file is a few rehearsals, an integration file a few seconds. */
const GUESS: Record<string, number> = { e2e: 60, integration: 2 };

/** The projects that share workers, ordered as one. */
const SIDE_BY_SIDE = new Set(Object.keys(GUESS));

const seconds = (spec: TestSpecification): number => {
  const relative = path.relative(path.join(spec.project.config.root, 'test'), spec.moduleId).split(path.sep).join('/');
  return SECONDS[relative] ?? GUESS[spec.project.name] ?? 0;
};

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    // Stable: projects keep their order (the side-by-side ones as one), and within them the longest go first.
    const firstOf = new Map<string, number>();
    sorted.forEach((spec, i) => {
      const key = SIDE_BY_SIDE.has(spec.project.name) ? 'side-by-side' : spec.project.name;
      if (!firstOf.has(key)) firstOf.set(key, i);
    });
    const order = (spec: TestSpecification) =>
      firstOf.get(SIDE_BY_SIDE.has(spec.project.name) ? 'side-by-side' : spec.project.name) ?? 0;
    return sorted
      .map((spec, i) => ({ spec, i }))
      .sort((a, b) => order(a.spec) - order(b.spec) || seconds(b.spec) - seconds(a.spec) || a.i - b.i)
      .map(({ spec }) => spec);
  }
}
