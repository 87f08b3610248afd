import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readSummary } from '../../../src/bundle/bundle.js';
import { CHECKSUM_FILE, digestBundle, formatChecksums } from '../../../src/bundle/checksums.js';
import type { Summary } from '../../../src/bundle/summary.js';
import { report } from '../../../src/commands/report.js';
import { buildReport, REPORT_FILE } from '../../../src/report/write.js';
import { measureFirstScreen, openReport } from '../../support/report-browser.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/** A real, complete, passing bundle (burst 3, limit 2, peak 2): a healthy burst. */
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');

let work: string;
let bundle: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-report-browser-'));
  bundle = path.join(work, '20261126T013217Z');
  await fs.copy(FIXTURE, bundle);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('report.html in Chromium', () => {
  it('opens offline with no console error and no request beyond itself, one row per run, no overflow', async () => {
    await report({ cwd: work, bundle });
    const file = path.join(bundle, REPORT_FILE);
    const opened = await openReport(file);
    expect(opened.consoleErrors).toEqual([]);
    expect(opened.requests).toEqual([pathToFileURL(file).href]);
    const history = JSON.parse(await readFile(path.join(bundle, 'state-history.json'), 'utf8')) as {
      runs: unknown[];
    };
    expect(opened.runs).toBe(history.runs.length);
    expect(opened.limits).toEqual(['2']);
    expect(opened.overflows).toEqual([]);
    expect(opened.png.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
  });

  it('shades the one window where a loosened throttle let two runs exceed limit 1, naming them', async () => {
    const summaryFile = path.join(bundle, 'summary.json');
    const summary = JSON.parse(await readFile(summaryFile, 'utf8')) as Summary;
    const validate = summary.steps.find((s) => s.name === 'validate');
    if (!validate?.data) throw new Error('the fixture has no validate data');
    validate.data.limits = { 'concurrency.deployment_limit': 1 };
    await writeFile(summaryFile, JSON.stringify(summary, null, 2));
    await writeFile(path.join(bundle, CHECKSUM_FILE), formatChecksums(await digestBundle(bundle)));
    await report({ cwd: work, bundle });
    const opened = await openReport(path.join(bundle, REPORT_FILE));
    expect(opened.consoleErrors).toEqual([]);
    expect(opened.overflows).toHaveLength(1);
    expect(opened.overflows[0]).toMatchObject({
      limit: '1',
      runs: '227cc465-6225-4864-a4c8-60a5ecf04b08 ad46935e-6ffc-4cda-b7b0-48544c3ea7e3',
    });
    expect(opened.overflows[0]?.label).toContain('above 1: rare-hound, knowing-jacamar');
  });
});

/** Real FAIL bundles of the e2e rehearsals: a loosened global limit (one failed check) and an overflow (eight). */
const FAILED_BUNDLES = ['loosened', 'overflow'];

describe.each(FAILED_BUNDLES)('the first screen of a FAIL report (%s bundle) at 1400x900', (name) => {
  it("shows every failed and inconclusive check's id, and the page never scrolls sideways", async () => {
    const dir = path.join(work, name);
    await fs.copy(path.join(repo, 'fixtures/bundles', name), dir);
    const summary = await readSummary(dir);
    if (!summary) throw new Error(`fixtures/bundles/${name} has no summary`);
    const out = path.join(work, `${name}.html`);
    await writeFile(out, (await buildReport(dir, summary)).html);
    const ids = summary.checks.filter((c) => c.verdict !== 'pass').map((c) => c.id);
    expect(ids.length).toBeGreaterThan(0);
    const screen = await measureFirstScreen(out, ids);
    for (const id of ids) expect(screen.tops[id], `${id} is not visible`).not.toBeNull();
    for (const id of ids) expect(screen.tops[id], id).toBeLessThan(900);
    expect(screen.scrollWidth).toBeLessThanOrEqual(1400);
    // Nor in a narrow window, where the old layout's raw list of windows pushed the page 326 px wide of it.
    const narrow = await measureFirstScreen(out, [], { width: 800, height: 900 });
    expect(narrow.scrollWidth).toBeLessThanOrEqual(800);
  });
});
