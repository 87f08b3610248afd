import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Summary } from '../../../src/bundle/summary.js';
import { renderValue, shortValue } from '../../../src/report/value.js';
import { explainCheck, explainFailures } from '../../../src/report/why.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/** Real FAIL bundles of the e2e rehearsals: the global limit loosened to 1, and the throttle off (4 at once). */
const summaryOf = (name: string): Summary =>
  JSON.parse(readFileSync(path.join(repo, 'fixtures/bundles', name, 'summary.json'), 'utf8')) as Summary;
const checkOf = (summary: Summary, id: string) => {
  const check = summary.checks.find((c) => c.id === id);
  if (!check) throw new Error(`no ${id}`);
  return check;
};

describe('explainFailures', () => {
  it('lists the failed checks before the inconclusive ones, each with a one-line headline and a fix', () => {
    const summary = summaryOf('overflow');
    const why = explainFailures(summary.checks, summary.target.manifest);
    expect(why.map((w) => `${w.check.verdict} ${w.check.id}`)).toEqual([
      'fail global_limit.free',
      'fail deployment.concurrency_limit',
      'fail global_limit',
      'fail concurrency.manifest_limit',
      'fail baseline.deployment_limit',
      'fail baseline.work_pool_limit',
      'fail baseline.global_limit_active',
      'inconclusive concurrency.global_limit',
    ]);
    const byId = new Map(why.map((w) => [w.check.id, w]));
    // The fix the doctor wrote into its reason, as code.
    expect(byId.get('global_limit.free')).toMatchObject({
      headline: 'global concurrency limit hotpass-backfill is inactive',
      fix: '`uv run prefect gcl enable hotpass-backfill`',
    });
    // The peak's reason loses its windows and run names; the manifest is named in the fix.
    expect(byId.get('concurrency.manifest_limit')?.headline).toBe(
      "4 runs RUNNING at once, manifest's deployment limit 2",
    );
    expect(byId.get('concurrency.manifest_limit')?.fix).toContain('`prefect/deployments/hotpass-backfill.yaml`');
    expect(byId.get('baseline.work_pool_limit')?.fix).toBe(
      'restore it, or accept it with expect.workPoolLimit in rehearse.config',
    );
    expect(byId.get('global_limit')?.fix).toBe('`prefect gcl enable hotpass-backfill`');
    for (const w of why) expect(w.headline).not.toMatch(/\n|; /);
  });

  it('gives the loosened global limit back its number as the fix', () => {
    const why = explainCheck(checkOf(summaryOf('loosened'), 'global_limit'));
    expect(why.fix).toBe('`prefect gcl update hotpass-backfill --limit 2`');
  });

  it('lists nothing for a healthy bundle', () => {
    expect(explainFailures(summaryOf('complete').checks)).toEqual([]);
  });
});

describe('shortValue and renderValue', () => {
  it("sums up the peak check's windows and run ids in one line, the whole value folded under it", () => {
    const actual = checkOf(summaryOf('overflow'), 'concurrency.manifest_limit').actual;
    expect(JSON.stringify(actual).length).toBeGreaterThan(600);
    expect(shortValue(actual)).toBe(
      'runsRunning: 4, slotsOccupied: 0, windows: 3 window(s) 10:26:02.796..10:26:17.386, up to 4 runs',
    );
    const html = renderValue(actual);
    expect(html).toMatch(/^<span class="short">runsRunning: 4, [^<]+<\/span><details class="full">/);
    expect(html).toContain('&quot;28de3785-0f0b-46a4-ae67-b2fd35292af5&quot;');
  });

  it('keeps a short value as it is (an object as its pairs), with no fold', () => {
    expect(renderValue(2)).toBe('<code>2</code>');
    expect(renderValue({ runsRunning: 2, slotsOccupied: 2 })).toBe(
      '<span class="short">runsRunning: 2, slotsOccupied: 2</span>',
    );
    expect(renderValue({})).toBe('<code>{}</code>');
    expect(renderValue(undefined)).toBe('');
  });

  it('cuts a long list of names to its count and first item', () => {
    const names = Array.from({ length: 12 }, (_, i) => `run-${i}: Completed`);
    expect(shortValue(names)).toBe('12 items: run-0: Completed, …');
  });
});
