import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSlowTests, projectTimeouts, slowestTests } from '../../../scripts/slow-tests.js';

const ROOT = '/work/rehearse';

/** Trimmed from a recorded test-results/vitest.json: a unit test with its timeout in meta, e2e tests without. */
const REPORT = {
  numPassedTests: 4,
  numFailedTests: 1,
  testResults: [
    {
      name: `${ROOT}/test/unit/guardrails/peak.test.ts`,
      status: 'passed',
      assertionResults: [
        {
          ancestorTitles: ['scale'],
          fullName: 'scale computes 100k runs of 5 states each',
          status: 'passed',
          title: 'computes 100k runs of 5 states each',
          duration: 2394.115605,
          failureMessages: [],
          meta: { timeoutMs: 30000 },
          tags: [],
        },
        { ancestorTitles: ['scale'], status: 'skipped', title: 'never ran', failureMessages: [], meta: {} },
      ],
    },
    {
      name: `${ROOT}/test/e2e/repeat.test.ts`,
      status: 'failed',
      assertionResults: [
        {
          ancestorTitles: ['ten healthy rehearsals in a row on the real sandbox'],
          status: 'passed',
          title: 'round 1 passes',
          duration: 28_310.2,
          meta: { timeoutMs: 900000 },
        },
        {
          ancestorTitles: ['ten healthy rehearsals in a row on the real sandbox'],
          status: 'failed',
          title: 'round 2 passes',
          duration: 300_000.5,
          meta: { timeoutMs: 300000 },
        },
      ],
    },
    {
      name: `${ROOT}/test/integration/evidence/screenshot.test.ts`,
      status: 'passed',
      assertionResults: [{ ancestorTitles: [], status: 'passed', title: 'from an older report', duration: 5_000 }],
    },
  ],
};

const CONFIG = readFileSync(path.join(import.meta.dirname, '..', '..', '..', 'vitest.config.ts'), 'utf8');

describe('the slow-test report', () => {
  it("reads each project's testTimeout from vitest.config.ts", () => {
    expect(projectTimeouts(CONFIG)).toEqual({ unit: 30_000, integration: 300_000, e2e: 900_000 });
  });

  it('lists the tests that ran, slowest first, each with the timeout it ran under or its project guessed', () => {
    const slow = slowestTests(REPORT, projectTimeouts(CONFIG), ROOT, 3);
    expect(slow.map((t) => [t.file, t.ms, t.timeoutMs, t.guessed])).toEqual([
      ['test/e2e/repeat.test.ts', 300_000.5, 300_000, false],
      ['test/e2e/repeat.test.ts', 28_310.2, 900_000, false],
      ['test/integration/evidence/screenshot.test.ts', 5_000, 300_000, true],
    ]);
    expect(slowestTests(REPORT, {}, ROOT)).toHaveLength(4);
  });

  it('prints time, timeout and margin, and flags a margin under 3x and a failed test', () => {
    const lines = formatSlowTests(slowestTests(REPORT, projectTimeouts(CONFIG), ROOT));
    expect(lines).toEqual([
      ' 300.0 s of  300.0 s   1.0x  BELOW 3x  test/e2e/repeat.test.ts > ten healthy rehearsals in a row on the real sandbox > round 2 passes [failed]',
      '  28.3 s of  900.0 s  31.8x  test/e2e/repeat.test.ts > ten healthy rehearsals in a row on the real sandbox > round 1 passes',
      '   5.0 s of 300.0 s?  60.0x  test/integration/evidence/screenshot.test.ts > from an older report',
      '   2.4 s of   30.0 s  12.5x  test/unit/guardrails/peak.test.ts > scale > computes 100k runs of 5 states each',
    ]);
  });
});
