import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bundle, createBundle } from '../../../src/evidence/bundle.js';
import { CHECKSUM_FILE, parseChecksums, sha256OfFile } from '../../../src/evidence/checksums.js';
import { REPORT_FILE, TIMELINE_FILE } from '../../../src/evidence/report/write.js';
import { newSummary } from '../../../src/evidence/summary-io.js';
import { runSteps } from '../../../src/steps/runner.js';
import type { Step } from '../../../src/steps/step.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi } from '../../support/fake-api.js';
import { createFakeRunner } from '../../support/fake-runner.js';

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

let root: string;
let bundle: Bundle;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'rehearse-runner-report-'));
  bundle = await createBundle(path.join(root, 'evidence'), NOW, (text) => text);
  await copyFile(path.join(FIXTURE, 'state-history.json'), path.join(bundle.dir, 'state-history.json'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('runSteps and the report', () => {
  it('refreshes report.html and concurrency.svg from the settled summary, inside SHA256SUMS', async () => {
    const ctx = createTestContext({ runner: createFakeRunner([]), api: createFakeApi({}), now: () => NOW, cwd: root });
    const outcome = await runSteps(ctx, bundle, [judging], newSummary(bundle, NOW, { deployment: 'd' }), {
      wholeRehearsal: false,
    });
    expect(outcome.exitCode).toBe(1);
    const html = await readFile(path.join(bundle.dir, REPORT_FILE), 'utf8');
    expect(html).toContain('Backfill rehearsal: FAIL');
    expect(html).toContain('status</dt><dd>partial');
    expect(html).toMatch(/<g class="overflow" data-limit="1"/);
    const sums = parseChecksums(await readFile(path.join(bundle.dir, CHECKSUM_FILE), 'utf8'));
    for (const file of [REPORT_FILE, TIMELINE_FILE])
      expect(sums.get(file)).toBe(await sha256OfFile(path.join(bundle.dir, file)));
  });
});
