import { copyFile, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { markAbandoned } from '../../../src/bundle/abandon.js';
import { CHECKSUM_FILE, digestBundle, formatChecksums } from '../../../src/bundle/checksums.js';
import type { Summary } from '../../../src/bundle/summary.js';
import { verify, verifyExitCode } from '../../../src/commands/verify.js';
import { type VerifyReport, verifyBundle } from '../../../src/verify/verify.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/** A real, complete, passing bundle made by `rehearse backfill --sandbox --burst 3` (limit 2, peak 2). */
const FIXTURE = path.join(repo, 'fixtures/bundles/complete');
const MANIFEST = path.join(repo, 'fixtures/hotpass/prefect/deployments/hotpass-backfill.yaml');
const MANIFEST_COPY = 'manifest/hotpass-backfill.yaml';

let work: string;
let bundle: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-verify-tamper-'));
  bundle = path.join(work, '20261126T013217Z');
  await fs.copy(FIXTURE, bundle);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** What someone covering their tracks does last: SHA256SUMS recomputed over the edited files. */
async function reseal(): Promise<void> {
  await writeFile(path.join(bundle, CHECKSUM_FILE), formatChecksums(await digestBundle(bundle)));
}

async function editJson<T>(rel: string, edit: (value: T) => void): Promise<void> {
  const file = path.join(bundle, rel);
  const value = JSON.parse(await readFile(file, 'utf8')) as T;
  edit(value);
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

const editSummary = (edit: (summary: Summary) => void) => editJson<Summary>('summary.json', edit);

/** The bundle as the inspect step now leaves it: with the manifest it judged against. */
async function keepManifestCopy(): Promise<void> {
  await fs.ensureDir(path.join(bundle, 'manifest'));
  await copyFile(MANIFEST, path.join(bundle, MANIFEST_COPY));
  await editSummary((summary) => {
    summary.steps.find((s) => s.name === 'inspect')!.files.splice(1, 0, MANIFEST_COPY);
  });
  await reseal();
}

const details = (report: VerifyReport) => report.problems.map((p) => `${p.kind} ${p.path ?? '-'}: ${p.detail}`);

describe('verify recomputes the inspect verdicts from the evidence', () => {
  it('fails deployment.json edited to limit 4 and CANCEL_NEW, though SHA256SUMS was recomputed', async () => {
    await editJson<Record<string, { limit?: number; collision_strategy?: string }>>('deployment.json', (deployment) => {
      deployment.global_concurrency_limit!.limit = 4;
      deployment.concurrency_options!.collision_strategy = 'CANCEL_NEW';
    });
    await reseal();
    const result = await verify({ dir: bundle });
    expect([result.exitCode, result.verdict]).toEqual([1, 'fail']);
    expect(result.lines).toEqual([
      'inconsistent: deployment.json: deployment.concurrency_limit is recorded pass (expected 2, found 2); judged again from the bundle it is fail (expected 2, found 4)',
      'inconsistent: deployment.json: deployment.collision_strategy is recorded pass (expected "ENQUEUE", found "ENQUEUE"); judged again from the bundle it is fail (expected "ENQUEUE", found "CANCEL_NEW")',
      // validate's limit is deployment.json's too.
      'inconsistent: concurrency.deployment_limit is recorded pass (limit 2; measured peak 2); recomputed from the bundle it is pass (limit 4; measured peak 2)',
    ]);
  });

  it('judges against the manifest copy kept in the bundle, and catches that copy edited', async () => {
    await keepManifestCopy();
    expect(await verifyBundle(bundle)).toMatchObject({ ok: true, problems: [], files: 12 });

    const text = await readFile(path.join(bundle, MANIFEST_COPY), 'utf8');
    await writeFile(path.join(bundle, MANIFEST_COPY), text.replace(/^concurrency_limit: 2$/m, 'concurrency_limit: 4'));
    await reseal();
    expect(details(await verifyBundle(bundle))).toEqual([
      'inconsistent deployment.json: deployment.concurrency_limit is recorded pass (expected 2, found 2); judged again from the bundle it is fail (expected 4, found 2)',
      'inconsistent -: concurrency.manifest_limit is recorded pass (limit runsRunning 2; measured runsRunning 2); recomputed from the bundle it is pass (limit runsRunning 4, slotsOccupied 2; measured runsRunning 2, slotsOccupied 2)',
    ]);
  });

  it('reports a listed manifest copy that is gone, or not a manifest', async () => {
    await keepManifestCopy();
    await writeFile(path.join(bundle, MANIFEST_COPY), 'just: text\n');
    await reseal();
    expect(details(await verifyBundle(bundle))).toEqual([
      `inconsistent ${MANIFEST_COPY}: the inspect step judged against it, but it is not a deployment manifest: manifest ${MANIFEST_COPY} does not describe a deployment`,
    ]);
    await rm(path.join(bundle, MANIFEST_COPY));
    await reseal();
    expect(details(await verifyBundle(bundle))).toEqual([
      `inconsistent ${MANIFEST_COPY}: the inspect step lists it, but it is not in the bundle`,
    ]);
  });
});

describe('verify holds the status to the steps and the notes', () => {
  it('exits 4 on an intact interrupted bundle, and 1 once it is edited to complete', async () => {
    await editSummary((summary) => {
      const run = summary.steps.find((s) => s.name === 'run')!;
      Object.assign(run, {
        status: 'interrupted',
        verdict: 'error',
        checks: [],
        error: { code: 'INTERRUPTED', message: 'interrupted by SIGINT' },
      });
      summary.steps = summary.steps.filter((s) => !['capture', 'validate', 'upload'].includes(s.name));
      summary.checks = summary.steps.flatMap((s) => s.checks);
      Object.assign(summary, { status: 'interrupted', verdict: 'incomplete', sealed: false, exitCode: 3 });
    });
    await reseal();
    const honest = await verify({ dir: bundle });
    expect([honest.exitCode, honest.verdict, honest.lines?.[1]]).toEqual([
      4,
      'incomplete',
      'the bundle is interrupted; its verdict: incomplete (not a pass)',
    ]);

    await editSummary((summary) => Object.assign(summary, { status: 'partial' }));
    await reseal();
    expect(details(await verifyBundle(bundle))).toEqual([
      'inconsistent summary.json: status partial, but the run step was interrupted',
    ]);
  });

  it('catches a bundle edited to complete while notes.md says the rehearsal was interrupted', async () => {
    const notes = path.join(bundle, 'notes.md');
    const text = await readFile(notes, 'utf8');
    await writeFile(
      notes,
      text.replace(
        '<!-- /rehearse:run -->',
        'The rehearsal was interrupted by SIGINT; its runs were cancelled.\n<!-- /rehearse:run -->',
      ),
    );
    await reseal();
    expect(details(await verifyBundle(bundle))).toEqual([
      'inconsistent notes.md: summary.json says complete, but the run section of notes.md says the rehearsal was interrupted',
    ]);
    // The operator's own notes are theirs to write: they never decide the status.
    await writeFile(notes, `${text}The network was interrupted for a second; nothing was affected.\n`);
    await reseal();
    expect((await verifyBundle(bundle)).ok).toBe(true);
  });

  it('exits 4 on an abandoned bundle, and 1 once it is edited back to complete', async () => {
    await markAbandoned(bundle, undefined, new Date('2026-11-26T02:00:00Z'));
    const abandoned = await verify({ dir: bundle });
    expect([abandoned.exitCode, abandoned.data?.bundleStatus]).toEqual([4, 'abandoned']);

    await editSummary((summary) => {
      Object.assign(summary, { status: 'complete', verdict: 'pass', exitCode: 0 });
      delete summary.abandoned;
    });
    await reseal();
    expect(details(await verifyBundle(bundle))).toEqual([
      'inconsistent notes.md: summary.json says complete, but notes.md records the rehearsal as abandoned',
    ]);
  });

  it('exits 4 on an intact incomplete or inconclusive bundle, 1 on an intact failed one, 0 only on a pass', () => {
    const report = (status: Summary['status'], verdict: Summary['verdict']): VerifyReport => ({
      bundle,
      ok: true,
      problems: [],
      files: 1,
      status,
      verdict,
    });
    expect(verifyExitCode(report('complete', 'pass'))).toBe(0);
    expect(verifyExitCode(report('partial', 'incomplete'))).toBe(4);
    expect(verifyExitCode(report('complete', 'inconclusive'))).toBe(4);
    expect(verifyExitCode(report('failed-to-run', 'incomplete'))).toBe(4);
    expect(verifyExitCode(report('complete', 'fail'))).toBe(1);
    expect(verifyExitCode({ ...report('complete', 'pass'), ok: false })).toBe(1);
  });

  it('exits 4 on a real partial bundle (a step run by hand)', async () => {
    await editSummary((summary) => {
      summary.steps = summary.steps.filter((s) => s.name === 'preflight' || s.name === 'inspect');
      summary.checks = summary.steps.flatMap((s) => s.checks);
      Object.assign(summary, { status: 'partial', verdict: 'pass', sealed: false });
    });
    await reseal();
    const result = await verify({ dir: bundle });
    expect([result.exitCode, result.lines]).toEqual([
      1,
      ['inconsistent: summary.json: verdict pass, but the bundle is partial: only a complete rehearsal can pass'],
    ]);
    await editSummary((summary) => Object.assign(summary, { verdict: 'incomplete' }));
    await reseal();
    expect((await verify({ dir: bundle })).exitCode).toBe(4);
  });
});

describe('verify refuses a pass its evidence cannot support', () => {
  type Check = Summary['checks'][number];
  const validateOf = (summary: Summary) => summary.steps.find((s) => s.name === 'validate')!;
  const checkOf = (summary: Summary, id: string): Check => validateOf(summary).checks.find((c) => c.id === id)!;
  /** Every verdict made to agree with the checks, as a forger leaves summary.json: complete, pass, exit 0. */
  const claimPass = (summary: Summary) => {
    for (const step of summary.steps) step.verdict = step.checks.some((c) => c.verdict !== 'pass') ? 'fail' : 'pass';
    summary.checks = summary.steps.flatMap((s) => s.checks);
    Object.assign(summary, { status: 'complete', verdict: 'pass', exitCode: 0, sealed: true });
  };

  it('refuses an interrupted bundle forged to a complete pass with its concurrency checks removed', async () => {
    // Interrupted while validate ran: the step recorded no checks and no data.
    await editSummary((summary) => {
      const validate = validateOf(summary);
      Object.assign(validate, {
        status: 'interrupted',
        verdict: 'error',
        checks: [],
        error: { code: 'INTERRUPTED', message: 'interrupted by SIGINT' },
      });
      delete validate.data;
      summary.steps = summary.steps.filter((s) => s.name !== 'upload');
      summary.checks = summary.steps.flatMap((s) => s.checks);
      Object.assign(summary, { status: 'interrupted', verdict: 'incomplete', sealed: false, exitCode: 3 });
    });
    await reseal();
    expect((await verify({ dir: bundle })).exitCode).toBe(4);

    // Its status alone edited to ok: the interruption it records still says what happened.
    await editSummary((summary) => {
      Object.assign(validateOf(summary), { status: 'ok', verdict: 'pass' });
      claimPass(summary);
    });
    await reseal();
    expect(details(await verifyBundle(bundle))).toContain(
      'inconsistent summary.json: status complete, but the validate step was interrupted',
    );
    await editSummary((summary) => {
      delete validateOf(summary).error;
    });
    await reseal();
    const forged = await verify({ dir: bundle });
    expect([forged.exitCode, forged.verdict]).toEqual([1, 'fail']);
    expect(forged.lines).toEqual([
      'inconsistent: summary says pass, but check concurrency.manifest_limit is missing',
      'inconsistent: summary says pass, but check concurrency.deployment_limit is missing; recomputed from the bundle it is pass (limit 2; measured peak 2)',
      'inconsistent: summary says pass, but check concurrency.work_pool_limit is missing; recomputed from the bundle it is pass (limit 2; measured peak 2)',
      'inconsistent: summary says pass, but check concurrency.global_limit is missing',
      'inconsistent: summary says pass, but check runs.settled is missing; recomputed from the bundle it is pass',
      'inconsistent: slot-history.json: the global limit is live, so validate measured occupied slots into it, but it is not in the bundle',
      'inconsistent: state-history.json: the validate step recorded no peak of RUNNING runs; its state histories give 2',
    ]);
  });

  it('refuses a failed limit flipped to pass, its limit and peak edited to match', async () => {
    // complex-fossa now starts RUNNING while the other two still run: three at once, limit 2.
    const file = path.join(bundle, 'state-history.json');
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace('"2026-11-26T01:32:47.802078Z"', '"2026-11-26T01:32:35.000000Z"'));
    await editSummary((summary) => {
      for (const id of ['concurrency.deployment_limit', 'concurrency.work_pool_limit'])
        Object.assign(checkOf(summary, id), { verdict: 'pass', expected: 3, actual: 3 });
      Object.assign(checkOf(summary, 'concurrency.manifest_limit'), { verdict: 'pass', expected: 3, actual: 3 });
      validateOf(summary).data!.peak = 3;
      claimPass(summary);
    });
    await reseal();
    const forged = await verify({ dir: bundle });
    expect([forged.exitCode, forged.lines]).toEqual([
      1,
      [
        'inconsistent: concurrency.manifest_limit is recorded pass (limit runsRunning 3; measured runsRunning 3); recomputed from the bundle it is fail (limit runsRunning 2, slotsOccupied 2; measured runsRunning 3, slotsOccupied 2)',
        'inconsistent: concurrency.deployment_limit is recorded pass (limit 3; measured peak 3); recomputed from the bundle it is fail (limit 2; measured peak 3)',
        'inconsistent: concurrency.work_pool_limit is recorded pass (limit 3; measured peak 3); recomputed from the bundle it is fail (limit 2; measured peak 3)',
      ],
    ]);
  });

  it("refuses a check's recorded peak edited", async () => {
    await editSummary((summary) => {
      checkOf(summary, 'concurrency.deployment_limit').actual = 1;
      claimPass(summary);
    });
    await reseal();
    expect(details(await verifyBundle(bundle))).toEqual([
      'inconsistent -: concurrency.deployment_limit is recorded pass (limit 2; measured peak 1); recomputed from the bundle it is pass (limit 2; measured peak 2)',
    ]);
  });

  it('recomputes occupied slots from slot-history.json, and refuses a pass over the global limit', async () => {
    // The fixture predates slot-history.json: give it one, holders as its runs were RUNNING.
    const holders = [
      ['rare-hound', '2026-11-26T01:32:32.217717Z', '2026-11-26T01:32:39.658837Z'],
      ['knowing-jacamar', '2026-11-26T01:32:32.873249Z', '2026-11-26T01:32:40.185683Z'],
      ['complex-fossa', '2026-11-26T01:32:47.802078Z', '2026-11-26T01:32:55.192281Z'],
    ];
    const slotHistory = (at: string[][]) => ({
      asOf: '2026-11-26T01:32:58.865Z',
      limit: 'hotpass-backfill',
      occupy: 1,
      runs: at.map(([runId, from, to]) => ({
        runId,
        states: [
          { timestamp: from, type: 'RUNNING' },
          { timestamp: to, type: 'COMPLETED' },
        ],
      })),
    });
    await writeFile(path.join(bundle, 'slot-history.json'), JSON.stringify(slotHistory(holders)));
    await editSummary((summary) => {
      validateOf(summary).files.splice(1, 0, 'slot-history.json');
      Object.assign(validateOf(summary).data!, { occupy: 1 });
    });
    await reseal();
    expect(await verifyBundle(bundle)).toMatchObject({ ok: true, problems: [] });

    // complex-fossa's slot now overlaps the other two: three slots at once, limit 2, the check still pass.
    holders[2]![1] = '2026-11-26T01:32:35.000000Z';
    await writeFile(path.join(bundle, 'slot-history.json'), JSON.stringify(slotHistory(holders)));
    await reseal();
    expect(details(await verifyBundle(bundle))).toEqual([
      'inconsistent -: concurrency.manifest_limit is recorded pass (limit runsRunning 2; measured runsRunning 2); recomputed from the bundle it is fail (limit runsRunning 2, slotsOccupied 2; measured runsRunning 2, slotsOccupied 3)',
      'inconsistent -: concurrency.global_limit is recorded pass (limit 2; measured peak 2); recomputed from the bundle it is fail (limit 2; measured peak 3)',
      'inconsistent slot-history.json: the validate step recorded a peak of 2 occupied slots; its slot history gives 3',
    ]);
    await rm(path.join(bundle, 'slot-history.json'));
    await reseal();
    expect(details(await verifyBundle(bundle))).toContainEqual(
      'inconsistent slot-history.json: the validate step lists it, but it is not in the bundle',
    );
  });

  it('leaves the untouched real bundle verified', async () => {
    const result = await verify({ dir: bundle });
    expect([result.exitCode, result.verdict]).toEqual([0, 'pass']);
  });
});

describe('verify refuses links and paths out of the bundle', () => {
  it('fails a listed file replaced by a symbolic link to an identical copy outside', async () => {
    const outside = path.join(work, 'metadata.json');
    await copyFile(path.join(bundle, 'metadata.json'), outside);
    await rm(path.join(bundle, 'metadata.json'));
    await symlink(outside, path.join(bundle, 'metadata.json'));
    const result = await verify({ dir: bundle });
    expect([result.exitCode, result.lines]).toEqual([
      1,
      [`not-regular: metadata.json: a symbolic link (to ${outside}): a bundle holds only regular files`],
    ]);
  });

  it('fails a directory replaced by a link to an identical copy, naming the link once', async () => {
    const outside = path.join(work, 'rendered-elsewhere');
    await fs.move(path.join(bundle, 'rendered'), outside);
    await symlink(outside, path.join(bundle, 'rendered'));
    const report = await verifyBundle(bundle);
    expect(details(report)).toEqual([
      `not-regular rendered: a symbolic link (to ${outside}): a bundle holds only regular files`,
    ]);
    expect(verifyExitCode(report)).toBe(1);
  });

  it('fails SHA256SUMS naming a path outside the bundle, and never reads it', async () => {
    await writeFile(path.join(work, 'secret.txt'), 'not evidence\n');
    const sums = await readFile(path.join(bundle, CHECKSUM_FILE), 'utf8');
    await writeFile(path.join(bundle, CHECKSUM_FILE), `${sums}${'0'.repeat(64)}  ../secret.txt\n`);
    expect(details(await verifyBundle(bundle))).toEqual([
      'outside ../secret.txt: listed in SHA256SUMS, but not a plain path inside the bundle',
    ]);
  });

  it('fails summary.json itself replaced by a link', async () => {
    const outside = path.join(work, 'summary.json');
    await fs.move(path.join(bundle, 'summary.json'), outside);
    await symlink(outside, path.join(bundle, 'summary.json'));
    const report = await verifyBundle(bundle);
    expect(report.problems.map((p) => [p.kind, p.path])).toEqual([
      ['not-regular', 'summary.json'],
      ['summary-invalid', 'summary.json'],
    ]);
  });
});

describe('the offline verify', () => {
  it('imports nothing that talks to Prefect or runs a step', async () => {
    const seen = new Set<string>();
    const walk = async (file: string): Promise<void> => {
      if (seen.has(file)) return;
      seen.add(file);
      const text = await readFile(file, 'utf8');
      for (const match of text.matchAll(/(?:from\s+|import\()\s*['"](\.[^'"]+)['"]/g)) {
        const next = path.resolve(path.dirname(file), match[1]!.replace(/\.js$/, '.ts'));
        if (await fs.pathExists(next)) await walk(next);
      }
    };
    await walk(path.join(repo, 'src/commands/verify.ts'));
    const modules = [...seen].map((file) => path.relative(path.join(repo, 'src'), file));
    expect(modules).toContain('verify/inspect.ts');
    expect(
      modules.filter(
        (m) => m.startsWith('steps/') || m === 'session.ts' || /^prefect\/(api|queries|runs|commands)\.ts$/.test(m),
      ),
    ).toEqual([]);
  });
});
