import { copyFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { CHECKSUM_FILE, parseChecksums, sha256OfFile } from '../../../src/bundle/checksums.js';
import { newSummary } from '../../../src/bundle/summary-io.js';
import { REPORT_FILE, TIMELINE_FILE } from '../../../src/report/write.js';
import type { Step } from '../../../src/steps/step.js';
import { runStepsOver, useTempBundle } from '../support/step-context.js';

const NOW = new Date('2026-11-26T02:00:00Z');
const FIXTURE = path.resolve(import.meta.dirname, '..', '..', '..', 'fixtures/bundles/complete');

/** A validate step that judged the fixture's histories against limit 2 and found a breach. */
const judging: Step = {
  name: 'validate',
  title: 'validate',
  run: async () => ({
    checks: [{ id: 'concurrency.deployment_limit', step: 'validate', title: 'peak', verdict: 'fail', reason: 'x' }],
    files: [],
    data: { limits: { 'concurrency.deployment_limit': 1 } },
  }),
};

const temp = useTempBundle('rehearse-runner-report-', NOW);
beforeEach(async () => {
  await copyFile(path.join(FIXTURE, 'state-history.json'), path.join(temp.bundle.dir, 'state-history.json'));
});

describe('runSteps and the report', () => {
  it('refreshes report.html and concurrency.svg from the settled summary, inside SHA256SUMS', async () => {
    const { outcome } = await runStepsOver(temp.bundle, [judging], newSummary(temp.bundle, NOW, { deployment: 'd' }), {
      now: NOW,
      cwd: temp.root,
    });
    expect(outcome.exitCode).toBe(1);
    const html = await readFile(path.join(temp.bundle.dir, REPORT_FILE), 'utf8');
    expect(html).toContain('Backfill rehearsal: FAIL');
    expect(html).toContain('status</dt><dd>partial');
    expect(html).toMatch(/<g class="overflow" data-limit="1"/);
    const sums = parseChecksums(await readFile(path.join(temp.bundle.dir, CHECKSUM_FILE), 'utf8'));
    for (const file of [REPORT_FILE, TIMELINE_FILE])
      expect(sums.get(file)).toBe(await sha256OfFile(path.join(temp.bundle.dir, file)));
  });

  it("puts the verdict at the top of notes.md, the failed check and its fix before every step's section", async () => {
    await copyFile(path.join(FIXTURE, 'notes.md'), path.join(temp.bundle.dir, 'notes.md'));
    await runStepsOver(temp.bundle, [judging], newSummary(temp.bundle, NOW, { deployment: 'd' }), {
      now: NOW,
      cwd: temp.root,
    });
    const notes = await readFile(path.join(temp.bundle.dir, 'notes.md'), 'utf8');
    const verdict = notes.indexOf('<!-- rehearse:verdict -->\n## Verdict: FAIL');
    expect(verdict).toBeGreaterThan(0);
    expect(verdict).toBeLessThan(notes.indexOf('<!-- rehearse:render -->'));
    expect(notes).toContain('| `concurrency.deployment_limit` | fail | x | restore the limits the manifest declares');
    expect(notes.indexOf('## Operator notes')).toBeGreaterThan(notes.indexOf('<!-- /rehearse:validate -->'));
  });
});
