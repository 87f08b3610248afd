import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHECKSUM_FILE, digestBundle, formatChecksums } from '../../../src/bundle/checksums.js';
import type { Summary } from '../../../src/bundle/summary.js';
import { verify } from '../../../src/commands/verify.js';
import { isRehearseError } from '../../../src/errors.js';
import { type VerifyReport, verifyBundle } from '../../../src/verify/verify.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/** A real, complete, passing bundle made by `rehearse backfill --sandbox --burst 3` (limit 2, peak 2). */
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');

let work: string;
let bundle: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-verify-'));
  bundle = path.join(work, '20261126T013217Z');
  await fs.copy(FIXTURE, bundle);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** What the runner does after each step: the manifest matches the files again, so only the edit itself remains. */
async function reseal(dir: string): Promise<void> {
  await writeFile(path.join(dir, CHECKSUM_FILE), formatChecksums(await digestBundle(dir)));
}

async function editSummary(edit: (summary: Summary) => void): Promise<void> {
  const file = path.join(bundle, 'summary.json');
  const summary = JSON.parse(await readFile(file, 'utf8')) as Summary;
  edit(summary);
  await writeFile(file, `${JSON.stringify(summary, null, 2)}\n`);
  await reseal(bundle);
}

const kinds = (report: VerifyReport) => report.problems.map((p) => [p.kind, p.path]);

describe('verifyBundle', () => {
  it('passes the intact real bundle', async () => {
    const report = await verifyBundle(bundle);
    expect(report).toEqual({
      bundle,
      ok: true,
      problems: [],
      files: 11,
      status: 'complete',
      verdict: 'pass',
      attestation: { state: 'absent', keyids: [] },
    });
  });

  it('names a file with one byte changed', async () => {
    const file = path.join(bundle, 'hotpass-e2e-staging.png');
    const png = await readFile(file);
    png.writeUInt8(png.readUInt8(png.length - 100) ^ 0xff, png.length - 100);
    await writeFile(file, png);
    const report = await verifyBundle(bundle);
    expect(report.ok).toBe(false);
    expect(kinds(report)).toEqual([['changed', 'hotpass-e2e-staging.png']]);
    expect(report.problems[0]?.detail).toContain('0159b321db7ba72a9b86aaa3b3683f8558deac76d7996f3483eaaa16715b6bd2');
  });

  it('reports a deleted file as missing (once, though the validate step lists it too)', async () => {
    await unlink(path.join(bundle, 'work-pool.json'));
    expect(kinds(await verifyBundle(bundle))).toEqual([['missing', 'work-pool.json']]);
  });

  it('reports a file the manifest does not list', async () => {
    await writeFile(path.join(bundle, 'rendered', 'extra.yaml'), 'concurrency_limit: 99\n');
    const report = await verifyBundle(bundle);
    expect(kinds(report)).toEqual([['unlisted', 'rendered/extra.yaml']]);
    expect(report.files).toBe(12);
  });

  it('reports a bundle without SHA256SUMS', async () => {
    await unlink(path.join(bundle, CHECKSUM_FILE));
    expect(kinds(await verifyBundle(bundle))).toEqual([['no-manifest', CHECKSUM_FILE]]);
  });

  it('reports a summary.json that is not a summary', async () => {
    await writeFile(path.join(bundle, 'summary.json'), '{"schema": "rehearse.summary/v1", "status": "complete"}\n');
    await reseal(bundle);
    const report = await verifyBundle(bundle);
    expect(kinds(report)).toEqual([['summary-invalid', 'summary.json']]);
    expect(report.problems[0]?.detail).toMatch(/bundle: /);
  });

  it("refuses a step's data of the wrong type, naming the field", async () => {
    await editSummary((summary) => {
      const validate = summary.steps.find((s) => s.name === 'validate');
      if (validate?.data) validate.data.peak = '2';
    });
    const report = await verifyBundle(bundle);
    expect(report.ok).toBe(false);
    expect(report.problems).toContainEqual({
      kind: 'summary-invalid',
      path: 'summary.json',
      detail: "the validate step's data: steps.5.data.peak: Invalid input: expected number, received string",
    });
  });

  it('catches a verdict of pass while a check failed, with the manifest recomputed', async () => {
    await editSummary((summary) => {
      const inspect = summary.steps.find((s) => s.name === 'inspect')!;
      inspect.checks[1]!.verdict = 'fail';
      inspect.verdict = 'fail';
      summary.checks = summary.steps.flatMap((s) => s.checks);
    });
    const report = await verifyBundle(bundle);
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.kind)).toEqual(['inconsistent', 'inconsistent', 'inconsistent']);
    expect(report.problems[0]?.detail).toBe("verdict pass, but a complete bundle with its steps' checks is fail");
    expect(report.problems[1]?.detail).toBe('exitCode 0, but a complete bundle with these checks exits 1');
    // Judged again from deployment.json, the check the edit failed passes.
    expect(report.problems[2]).toEqual({
      kind: 'inconsistent',
      path: 'deployment.json',
      detail:
        'deployment.collision_strategy is recorded fail (expected "ENQUEUE", found "ENQUEUE"); judged again from the bundle it is pass (expected "ENQUEUE", found "ENQUEUE")',
    });
  });

  it("catches summary.checks that differ from the steps' checks", async () => {
    await editSummary((summary) => {
      summary.checks = summary.checks.filter((c) => c.id !== 'concurrency.work_pool_limit');
    });
    const report = await verifyBundle(bundle);
    expect(report.problems).toEqual([
      {
        kind: 'inconsistent',
        path: 'summary.json',
        detail:
          'checks are not those of its steps: check #12 is concurrency.global_limit pass, the steps recorded concurrency.work_pool_limit pass',
      },
    ]);
  });

  it('recomputes the peak from state-history.json and catches a pass above the limit', async () => {
    const file = path.join(bundle, 'state-history.json');
    const text = await readFile(file, 'utf8');
    // complex-fossa now starts RUNNING while the other two still run: three at once, limit 2.
    expect(text).toContain('"2026-11-26T01:32:47.802078Z"');
    await writeFile(file, text.replace('"2026-11-26T01:32:47.802078Z"', '"2026-11-26T01:32:35.000000Z"'));
    await reseal(bundle);
    const report = await verifyBundle(bundle);
    expect(report.problems.map((p) => p.detail)).toEqual([
      'concurrency.manifest_limit is recorded pass (limit runsRunning 2; measured runsRunning 2); recomputed from the bundle it is fail (limit runsRunning 2, slotsOccupied 2; measured runsRunning 3, slotsOccupied 2)',
      'concurrency.deployment_limit is recorded pass (limit 2; measured peak 2); recomputed from the bundle it is fail (limit 2; measured peak 3)',
      'concurrency.work_pool_limit is recorded pass (limit 2; measured peak 2); recomputed from the bundle it is fail (limit 2; measured peak 3)',
      'the validate step recorded a peak of 2 RUNNING runs; its state histories give 3',
    ]);
    expect(report.problems.every((p) => p.kind === 'inconsistent')).toBe(true);
  });

  it('catches a limit failed within it, and a pass over a limit the runs never reached', async () => {
    await editSummary((summary) => {
      const validate = summary.steps.find((s) => s.name === 'validate')!;
      const check = (id: string) => validate.checks.find((c) => c.id === id)!;
      check('concurrency.manifest_limit').verdict = 'fail';
      check('concurrency.work_pool_limit').expected = 3;
      validate.verdict = 'fail';
      summary.checks = summary.steps.flatMap((s) => s.checks);
      Object.assign(summary, { verdict: 'fail', exitCode: 1 });
    });
    expect((await verifyBundle(bundle)).problems.map((p) => p.detail)).toEqual([
      'concurrency.manifest_limit is recorded fail (limit runsRunning 2; measured runsRunning 2); recomputed from the bundle it is pass (limit runsRunning 2, slotsOccupied 2; measured runsRunning 2, slotsOccupied 2)',
      // The limit is work-pool.json's, whatever the check says it was.
      'concurrency.work_pool_limit is recorded pass (limit 3; measured peak 2); recomputed from the bundle it is pass (limit 2; measured peak 2)',
    ]);
  });

  it('catches an interrupted bundle that says pass', async () => {
    await editSummary((summary) => {
      summary.status = 'interrupted';
    });
    expect((await verifyBundle(bundle)).problems).toEqual([
      {
        kind: 'inconsistent',
        path: 'summary.json',
        detail: 'verdict pass, but the bundle is interrupted: only a complete rehearsal can pass',
      },
    ]);
  });

  it('catches a complete bundle missing an evidence step', async () => {
    await editSummary((summary) => {
      summary.steps = summary.steps.filter((s) => s.name !== 'render');
      summary.checks = summary.steps.flatMap((s) => s.checks);
    });
    expect((await verifyBundle(bundle)).problems).toEqual([
      {
        kind: 'inconsistent',
        path: 'summary.json',
        detail: 'status complete, but not every evidence step ran: render never ran',
      },
    ]);
  });

  it('catches a screenshot that passed but is not a PNG', async () => {
    await writeFile(path.join(bundle, 'hotpass-e2e-staging.png'), '<html>Loading...</html>\n');
    await reseal(bundle);
    expect(kinds(await verifyBundle(bundle))).toEqual([['inconsistent', 'hotpass-e2e-staging.png']]);
  });

  it('refuses a directory that is not a bundle, and one that does not exist', async () => {
    const plain = path.join(work, 'plain');
    await fs.outputFile(path.join(plain, 'notes.md'), '# not a bundle\n');
    for (const dir of [plain, path.join(work, 'nowhere')]) {
      const error = await verifyBundle(dir).catch((caught: unknown) => caught);
      expect(isRehearseError(error) && [error.code, error.exitCode, Boolean(error.hint)]).toEqual([
        'BUNDLE_INVALID',
        2,
        true,
      ]);
    }
  });
});

describe('verify command', () => {
  it('exits 0 on an intact bundle and 1 with one line per difference', async () => {
    const intact = await verify({ dir: bundle });
    expect([intact.exitCode, intact.verdict, intact.data?.ok]).toEqual([0, 'pass', true]);

    await writeFile(path.join(bundle, 'notes.md'), 'rewritten\n');
    await unlink(path.join(bundle, 'metadata.json'));
    const broken = await verify({ dir: path.relative(work, bundle), cwd: work });
    expect([broken.exitCode, broken.verdict, broken.data?.ok]).toEqual([1, 'fail', false]);
    expect(broken.lines).toEqual([
      'missing: metadata.json: listed in SHA256SUMS but not in the bundle',
      expect.stringMatching(/^changed: notes\.md: sha256 is [0-9a-f]{64}, SHA256SUMS says e9da4b3c/),
    ]);
  });

  it('throws BUNDLE_INVALID for a directory that is not a bundle', async () => {
    await expect(verify({ dir: work })).rejects.toMatchObject({ code: 'BUNDLE_INVALID', exitCode: 2 });
  });
});
