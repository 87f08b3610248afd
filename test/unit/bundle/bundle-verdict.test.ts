import { describe, expect, it } from 'vitest';
import type { StepName, Summary } from '../../../src/bundle/summary.js';
import { newSummary } from '../../../src/bundle/summary-io.js';
import { RehearseError } from '../../../src/errors.js';
import type { Verdict } from '../../../src/guardrails/verdict.js';
import { runSteps } from '../../../src/steps/runner.js';
import type { Step } from '../../../src/steps/step.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi } from '../../support/fake-api.js';
import { createFakeRunner } from '../../support/fake-runner.js';
import { useTempBundle } from '../support/step-context.js';

const NOW = new Date('2026-11-26T02:00:00Z');
const temp = useTempBundle('rehearse-bundle-verdict-', NOW);

/** A step that judges one check with `verdict`. */
const judging = (name: StepName, verdict: Verdict): Step => ({
  name,
  title: name,
  async run() {
    return { checks: [{ id: `${name}.check`, step: name, title: name, verdict, reason: verdict }], files: [] };
  },
});

/** A step that stops on `error`; `onRun` is what happens first (Ctrl-C, say). */
const failing = (name: StepName, error: RehearseError, onRun?: () => void, recordsFailure = false): Step => ({
  name,
  title: name,
  recordsFailure,
  async run() {
    onRun?.();
    throw error;
  },
});

/** One command over the bundle: `initial` is what an earlier one left, undefined for a fresh bundle. */
async function command(stages: Step[], initial: Summary | undefined, signal?: AbortSignal) {
  const ctx = createTestContext({ runner: createFakeRunner([]), api: createFakeApi({}), now: () => NOW });
  return runSteps(
    { ...ctx, ...(signal ? { signal } : {}) },
    temp.bundle,
    stages,
    initial ?? newSummary(temp.bundle, NOW, {}),
    { wholeRehearsal: false, existingBundle: initial !== undefined },
  );
}

const settled = (summary: Summary) => [summary.status, summary.verdict, summary.exitCode];
const UPLOAD_FAILED = new RehearseError('EVIDENCE_ROOT_UNWRITABLE', 'cannot create the far directory');

describe("a bundle's verdict and exit code only get worse, never better, unless the step that decided them is rerun", () => {
  it('an interrupted rehearsal keeps exit 3 after a capture run by hand', async () => {
    const controller = new AbortController();
    const interrupted = await command(
      [
        judging('inspect', 'pass'),
        failing('run', new RehearseError('INTERRUPTED', 'interrupted while watching'), () => controller.abort()),
      ],
      undefined,
      controller.signal,
    );
    expect(settled(interrupted.summary)).toEqual(['interrupted', 'incomplete', 3]);

    const capture = await command([judging('capture', 'pass')], interrupted.summary);
    // The capture itself went well (the command exits 0); the bundle is still an interrupted rehearsal.
    expect(capture.exitCode).toBe(0);
    expect(settled(capture.summary)).toEqual(['interrupted', 'incomplete', 3]);
  });

  it('a failed guardrail stays fail and 1 through a failed upload and then a good one', async () => {
    const failed = await command([judging('inspect', 'fail')], undefined);
    expect(settled(failed.summary)).toEqual(['partial', 'fail', 1]);

    const upload = await command([failing('upload', UPLOAD_FAILED, undefined, true)], failed.summary);
    expect(upload.exitCode).toBe(3);
    expect(settled(upload.summary)).toEqual(['failed-to-run', 'fail', 1]);

    const again = await command([judging('upload', 'pass')], upload.summary);
    expect(settled(again.summary)).toEqual(['partial', 'fail', 1]);
  });

  it('a step that could not run keeps the bundle at 3 while other steps run by hand pass', async () => {
    const broken = await command([failing('inspect', new RehearseError('API_UNREACHABLE', 'no answer'))], undefined);
    expect(settled(broken.summary)).toEqual(['failed-to-run', 'incomplete', 3]);
    const render = await command([judging('render', 'pass')], broken.summary);
    expect(settled(render.summary)).toEqual(['partial', 'incomplete', 3]);
  });

  it('the step that decided the verdict, rerun in full, replaces its own record', async () => {
    const failed = await command([judging('inspect', 'fail')], undefined);
    expect(settled(failed.summary)).toEqual(['partial', 'fail', 1]);
    const rerun = await command([judging('inspect', 'pass')], failed.summary);
    expect(settled(rerun.summary)).toEqual(['partial', 'incomplete', 0]);
  });
});
