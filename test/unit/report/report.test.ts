import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHECKSUM_FILE, parseChecksums, sha256OfFile } from '../../../src/bundle/checksums.js';
import type { Summary } from '../../../src/bundle/summary.js';
import { report } from '../../../src/commands/report.js';
import { isRehearseError } from '../../../src/errors.js';
import { renderNotesMarkdown } from '../../../src/report/escape.js';
import { buildReport, limitsOf, REPORT_FILE, TIMELINE_FILE } from '../../../src/report/write.js';
import { verifyBundle } from '../../../src/verify/verify.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/** A real, complete, passing bundle (burst 3, limit 2, peak 2). */
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');
const NAME = '20261126T013217Z';

let work: string;
let bundle: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-report-'));
  bundle = path.join(work, 'evidence', NAME);
  await fs.copy(FIXTURE, bundle);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

const readSummary = async (dir: string): Promise<Summary> =>
  JSON.parse(await readFile(path.join(dir, 'summary.json'), 'utf8')) as Summary;

describe('rehearse report', () => {
  it('writes report.html and concurrency.svg into the newest bundle, listed in SHA256SUMS', async () => {
    const result = await report({ cwd: work, evidenceRoot: 'evidence' });
    expect(result.exitCode).toBe(0);
    const sums = parseChecksums(await readFile(path.join(bundle, CHECKSUM_FILE), 'utf8'));
    for (const file of [REPORT_FILE, TIMELINE_FILE])
      expect(sums.get(file)).toBe(await sha256OfFile(path.join(bundle, file)));
    expect((await verifyBundle(bundle)).ok).toBe(true);
    const html = await readFile(path.join(bundle, REPORT_FILE), 'utf8');
    expect(html).toContain('Backfill rehearsal: PASS');
    expect(html.match(/<g class="run[ "]/g)).toHaveLength(3);
    expect(html).not.toContain('class="overflow"');
    expect(html).toContain('src="data:image/png;base64,');
    expect(html).not.toMatch(/<script|\bsrc="(?!data:)|https?:\/\/(?!127\.0\.0\.1:41107|www\.w3\.org)/);
  });

  it('gives the same bytes for a copy of the bundle elsewhere', async () => {
    await report({ cwd: work, bundle });
    const copy = path.join(work, 'elsewhere', 'copy-of-it');
    await fs.copy(bundle, copy);
    await report({ cwd: work, bundle: copy });
    for (const file of [REPORT_FILE, TIMELINE_FILE, CHECKSUM_FILE])
      expect(await readFile(path.join(copy, file), 'utf8')).toBe(await readFile(path.join(bundle, file), 'utf8'));
  });

  it('renders an operator note with markup as inert text', async () => {
    await appendFile(path.join(bundle, 'notes.md'), '\n<script>alert("x")</script> <img src=x onerror=alert(1)>\n');
    const { html } = await buildReport(bundle, await readSummary(bundle));
    expect(html).not.toMatch(/<script|<img src=x/);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;');
  });

  it('refuses to reseal a bundle whose files changed, and writes elsewhere with --out', async () => {
    await appendFile(path.join(bundle, 'state-history.json'), ' ');
    const caught = await report({ cwd: work, bundle }).catch((error: unknown) => error);
    expect(isRehearseError(caught) && caught.code).toBe('BUNDLE_INVALID');
    expect(await fs.pathExists(path.join(bundle, REPORT_FILE))).toBe(false);
    const out = path.join(work, 'out.html');
    await report({ cwd: work, bundle, out });
    expect(await readFile(out, 'utf8')).toContain('<!DOCTYPE html>');
    expect(await fs.pathExists(path.join(bundle, REPORT_FILE))).toBe(false);
  });

  it('never calls exit 0 of an incomplete bundle a pass', async () => {
    const summary = { ...(await readSummary(bundle)), verdict: 'incomplete', status: 'partial' } as const;
    const { html } = await buildReport(bundle, summary);
    expect(html).toContain('Backfill rehearsal: INCOMPLETE');
    expect(html).toContain('0 (the steps that ran passed; the bundle is partial)');
    expect(html).not.toContain('every guardrail held');
  });

  it('says so when a bundle has no state histories yet', async () => {
    await rm(path.join(bundle, 'state-history.json'));
    const { html, svg } = await buildReport(bundle, await readSummary(bundle));
    expect(svg).toBeUndefined();
    expect(html).toContain('No timeline: state-history.json is not in this bundle yet');
    expect(html).not.toContain('href="concurrency.svg"');
  });

  it('refuses a state-history.json that is not what rehearse wrote, naming the field, instead of drawing it', async () => {
    const file = path.join(bundle, 'state-history.json');
    const history = await fs.readJson(file);
    history.runs[0].states = 'Completed';
    await fs.writeJson(file, history);
    const caught = await buildReport(bundle, await readSummary(bundle)).catch((error: unknown) => error);
    expect(caught).toMatchObject({
      code: 'BUNDLE_INVALID',
      message: `state-history.json of bundle ${NAME} is not what rehearse wrote (runs.0.states: Invalid input: expected array, received string)`,
      hint: '`rehearse verify` shows what changed since it was written; an open bundle takes `rehearse capture` again',
    });
  });

  it("draws a state history made by hand, without marks of the rehearsal's runs, every run as another's", async () => {
    const file = path.join(bundle, 'state-history.json');
    const { asOf, runs } = await fs.readJson(file);
    await fs.writeJson(file, { asOf, runs: runs.map(({ rehearsal: _mark, ...run }: { rehearsal: boolean }) => run) });
    const { svg } = await buildReport(bundle, await readSummary(bundle));
    expect(svg?.match(/<g class="run[ "]/g)).toHaveLength(3);
  });

  it('draws the slot line from slot-history.json, and refuses one without the slots each acquisition took', async () => {
    const { asOf, runs } = await fs.readJson(path.join(bundle, 'state-history.json'));
    const slots = { asOf, limit: 'hotpass-backfill', occupy: 1, runs };
    await fs.writeJson(path.join(bundle, 'slot-history.json'), slots);
    const { svg } = await buildReport(bundle, await readSummary(bundle));
    expect(svg).toContain('<path class="slots"');
    const { occupy: _occupy, ...without } = slots;
    await fs.writeJson(path.join(bundle, 'slot-history.json'), without);
    const caught = await buildReport(bundle, await readSummary(bundle)).catch((error: unknown) => error);
    expect(caught).toMatchObject({
      code: 'BUNDLE_INVALID',
      message: `slot-history.json of bundle ${NAME} is not what rehearse wrote (occupy: Invalid input: expected number, received undefined)`,
    });
  });

  it('sets two bundles side by side and marks what changed', async () => {
    const newer = path.join(work, 'evidence', '20261127T010000Z');
    await fs.copy(bundle, newer);
    const summary = await readSummary(newer);
    const check = summary.checks.find((c) => c.id === 'concurrency.deployment_limit')!;
    Object.assign(check, { verdict: 'fail', expected: 2, actual: 3 });
    await writeFile(path.join(newer, 'summary.json'), JSON.stringify({ ...summary, verdict: 'fail' }));
    const result = await report({ cwd: work, compare: [bundle, newer] });
    const html = result.lines?.join('\n') ?? '';
    expect(html).toMatch(/<tr class="changed"><th>verdict<\/th><td>pass<\/td><td>fail<\/td>/);
    expect(html).toMatch(/<tr class="changed"><td><code>concurrency.deployment_limit<\/code>/);
    expect(html).toMatch(/<tr><td><code>concurrency.manifest_limit<\/code>/);
    const caught = await report({ cwd: work, compare: [bundle] }).catch((error: unknown) => error);
    expect(isRehearseError(caught) && caught.code).toBe('USAGE');
  });
});

describe('limitsOf', () => {
  it("takes validate's applied limits and the manifest's, the global limit apart as slots, a disabled one not at all", async () => {
    const summary = await readSummary(bundle);
    const validate = summary.steps.find((s) => s.name === 'validate')!;
    // The loosened throttle, as validate records it: deployment and pool at 4, the global limit off.
    validate.data = {
      ...validate.data,
      limits: {
        'concurrency.deployment_limit': 4,
        'concurrency.work_pool_limit': 4,
        'concurrency.global_limit': null,
      },
    };
    summary.checks = summary.checks.filter((c) => c.id !== 'concurrency.global_limit');
    expect(limitsOf(summary)).toEqual({
      running: { deployment_limit: 4, work_pool_limit: 4, manifest_limit: 2 },
      slots: {},
    });
    // The manifest's promise as validate records it today: what it bounds, by measure.
    const manifest = summary.checks.find((c) => c.id === 'concurrency.manifest_limit')!;
    manifest.expected = { runsRunning: 2, slotsOccupied: 2 };
    expect(limitsOf(summary)).toEqual({
      running: { deployment_limit: 4, work_pool_limit: 4, manifest_limit: 2 },
      slots: { 'manifest key limit (slots)': 2 },
    });
    delete validate.data.limits;
    manifest.expected = { slotsOccupied: 2 };
    validate.data.limits = { 'concurrency.global_limit': 2 };
    expect(limitsOf(summary).slots).toEqual({ 'global_limit (slots)': 2, 'manifest key limit (slots)': 2 });
  });
});

describe('renderNotesMarkdown', () => {
  it('keeps headings, tables and code, and escapes everything else', () => {
    const html = renderNotesMarkdown('## Run <b>\n\n| a | b |\n| --- | --- |\n| `x<y` | **2** |\n\ntext & more');
    expect(html).toBe(
      '<h4>Run &lt;b&gt;</h4>\n<table><tr><th>a</th><th>b</th></tr><tr><td><code>x&lt;y</code></td><td><strong>2</strong></td></tr></table>\n<p>text &amp; more</p>',
    );
  });
});
