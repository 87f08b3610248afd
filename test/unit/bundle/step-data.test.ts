import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { STEP_DATA_SCHEMAS, stepData, stepDataProblems } from '../../../src/bundle/step-data.js';
import { type Summary, SummarySchema } from '../../../src/bundle/summary.js';
import { limitsOf } from '../../../src/report/write.js';

const fixtures = path.resolve(import.meta.dirname, '../../../fixtures/bundles');
const readFixture = async (name: string): Promise<Summary> =>
  SummarySchema.parse(JSON.parse(await readFile(path.join(fixtures, name, 'summary.json'), 'utf8')));

describe('step data schemas', () => {
  it('accept every step of every fixture bundle, keeping fields they do not name', async () => {
    for (const name of await readdir(fixtures)) {
      const summary = await readFixture(name);
      expect(stepDataProblems(summary), name).toEqual([]);
      for (const step of Object.keys(STEP_DATA_SCHEMAS) as (keyof typeof STEP_DATA_SCHEMAS)[])
        expect(() => stepData(summary, step), `${name} ${step}`).not.toThrow();
    }
    const run = stepData(await readFixture('complete'), 'run');
    expect(run?.parameters).toBeDefined();
  });

  it('refuse an edited field of the wrong type with BUNDLE_INVALID naming it', async () => {
    const summary = await readFixture('complete');
    const validate = summary.steps.find((s) => s.name === 'validate');
    if (validate?.data) validate.data.peak = '2';
    expect(() => stepData(summary, 'validate')).toThrow(
      expect.objectContaining({ code: 'BUNDLE_INVALID', message: expect.stringContaining('(peak: ') }),
    );
    // The report reads the limits through the same schema, so it refuses the edit too.
    expect(() => limitsOf(summary)).toThrow(
      expect.objectContaining({ code: 'BUNDLE_INVALID', message: expect.stringContaining('(peak: ') }),
    );
    expect(stepDataProblems(summary)).toEqual([
      "the validate step's data: steps.5.data.peak: Invalid input: expected number, received string",
    ]);
  });
});
