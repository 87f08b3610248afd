import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHECKSUM_FILE, digestBundle, formatChecksums } from '../../../src/bundle/checksums.js';
import type { Summary } from '../../../src/bundle/summary.js';
import type { FaultsFile } from '../../../src/guardrails/fault-record.js';
import { type VerifyReport, verifyBundle } from '../../../src/verify/verify.js';

const repo = path.resolve(import.meta.dirname, '..', '..', '..');
/**
 * A real bundle of `rehearse backfill --sandbox --fault cancel-run --fault-command ...` (burst 3, limit 2):
 * smiling-foxhound cancelled at limit-reached, the two others completed, every slot back.
 */
const FIXTURE = path.join(repo, 'fixtures/bundles/faulted');

let work: string;
let bundle: string;
beforeEach(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'rehearse-verify-faults-'));
  bundle = path.join(work, '20261206T084749Z');
  await fs.copy(FIXTURE, bundle);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** SHA256SUMS recomputed over the edits, as someone covering their tracks would. */
async function editJson<T>(rel: string, edit: (value: T) => void): Promise<void> {
  const file = path.join(bundle, rel);
  const value = JSON.parse(await readFile(file, 'utf8')) as T;
  edit(value);
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
  await writeFile(path.join(bundle, CHECKSUM_FILE), formatChecksums(await digestBundle(bundle)));
}

/** What verify judged again (the attestation's own finding of an edited file aside). */
const faultProblems = (report: VerifyReport) =>
  report.problems
    .filter((p) => p.kind === 'inconsistent' && /faults|slots\.released/.test(`${p.path} ${p.detail}`))
    .map((p) => p.detail);

describe('verify judges the fault checks again from the bundle', () => {
  it('verifies the real fault bundle untouched', async () => {
    expect(await verifyBundle(bundle)).toMatchObject({ ok: true, problems: [], verdict: 'pass' });
  });

  it('refuses a fault that failed, recorded as injected in summary.json', async () => {
    await editJson<FaultsFile>('faults.json', (file) => {
      file.faults[0]!.status = 'failed';
      file.faults[0]!.reason = 'the API refused the cancel';
    });
    expect(faultProblems(await verifyBundle(bundle))).toEqual([
      'faults.1.cancel-run is recorded pass; recomputed it is inconclusive',
    ]);
  });

  it('refuses a fault check that faults.json does not list', async () => {
    await editJson<FaultsFile>('faults.json', (file) => {
      file.faults.pop();
    });
    expect(faultProblems(await verifyBundle(bundle))).toEqual([
      'faults.2.command is recorded, but faults.json lists no such fault',
    ]);
  });

  it('refuses faults.untouched_completed as pass once an untouched run ends Crashed in state-history.json', async () => {
    await editJson<{ runs: { runName: string; states: { type: string; name: string }[] }[] }>(
      'state-history.json',
      (history) => {
        const mole = history.runs.find((r) => r.runName === 'delightful-mole')!;
        Object.assign(mole.states.at(-1)!, { type: 'CRASHED', name: 'Crashed' });
      },
    );
    expect(faultProblems(await verifyBundle(bundle))).toContain(
      'faults.untouched_completed is recorded pass; recomputed it is fail',
    );
  });

  it('refuses slots.released as pass with a limit holding more than before the burst', async () => {
    await editJson<Summary>('summary.json', (summary) => {
      const released = summary.steps.flatMap((s) => s.checks).find((c) => c.id === 'slots.released')!;
      released.actual = Object.fromEntries(Object.keys(released.actual as object).map((limit) => [limit, 1]));
    });
    expect(faultProblems(await verifyBundle(bundle))).toEqual([
      expect.stringMatching(/^slots\.released is recorded pass, but deployment:\S+ holds 1 \(0 before\)$/),
    ]);
  });

  it("refuses faults.json whose slots.released verdict is not summary.json's", async () => {
    await editJson<FaultsFile>('faults.json', (file) => {
      file.slotsReleased = { verdict: 'fail', reason: 'held', validateWaitedSeconds: 0 };
    });
    expect(faultProblems(await verifyBundle(bundle))).toEqual([
      'faults.json says slots.released was fail; summary.json records pass',
    ]);
  });

  it('refuses faults.json with a wrong-typed field, naming the field', async () => {
    await editJson<{ faults: { injectedAt: unknown }[] }>('faults.json', (file) => {
      file.faults[0]!.injectedAt = 42;
    });
    const [problem] = faultProblems(await verifyBundle(bundle));
    expect(problem).toMatch(/^not the faults record rehearse writes: .*faults\.0\.injectedAt/);
  });

  it('refuses a failed fault rehearsal forged to a pass by deleting its fault checks', async () => {
    await editJson<Summary>('summary.json', (summary) => {
      for (const step of summary.steps) step.checks = step.checks.filter((c) => !c.id.startsWith('faults.'));
      summary.checks = summary.steps.flatMap((s) => s.checks);
    });
    expect(faultProblems(await verifyBundle(bundle))).toEqual([
      'faults.1.cancel-run is not recorded; its evidence gives pass',
      'faults.2.command is not recorded; its evidence gives pass',
      'faults.untouched_completed is not recorded; its evidence gives pass',
    ]);
  });

  it("counts the CLI's own run, cancelled as stranded behind orphaned slots, as touched by its fault", async () => {
    await editJson<{ runs: { runName: string; runId: string; states: { type: string; name: string }[] }[] }>(
      'state-history.json',
      (history) => {
        const cli = history.runs.find((r) => r.runName === 'healthy-chupacabra')!;
        Object.assign(cli.states.at(-1)!, { type: 'CANCELLED', name: 'Cancelled' });
      },
    );
    const history = JSON.parse(await readFile(path.join(bundle, 'state-history.json'), 'utf8')) as {
      runs: { runName: string; runId: string }[];
    };
    const cli = history.runs.find((r) => r.runName === 'healthy-chupacabra')!;
    await editJson<FaultsFile>('faults.json', (file) => {
      file.faults[0]!.strandedRuns = {
        at: '2026-12-06T08:48:00.000Z',
        reason: 'held behind slots no run holds',
        slots: { limit: 'hotpass-backfill', active: 2, of: 2 },
        runs: [{ id: cli.runId, name: cli.runName, from: 'AwaitingConcurrencySlot', to: 'Cancelled' }],
      };
    });
    // The CLI's run is never excused as turned away by the collision strategy: only the fault accounts for it.
    expect(faultProblems(await verifyBundle(bundle))).toEqual([]);
  });

  it('refuses fault checks recorded with faults.json gone', async () => {
    await fs.remove(path.join(bundle, 'faults.json'));
    await editJson<Summary>('summary.json', (summary) => {
      for (const step of summary.steps) step.files = step.files.filter((f) => f !== 'faults.json');
    });
    expect(faultProblems(await verifyBundle(bundle))).toContain(
      '3 fault check(s) are recorded, but it is not in the bundle',
    );
  });
});
