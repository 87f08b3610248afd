import { describe, expect, it } from 'vitest';
import type { Summary } from '../../../src/bundle/summary.js';
import { newSummary } from '../../../src/bundle/summary-io.js';
import { inspectStep } from '../../../src/steps/inspect/inspect.js';
import { validateStep } from '../../../src/steps/validate/validate.js';
import { type FakeRoutes, NOT_FOUND, recorded, recordedRoutes } from '../../support/fake-api.js';
import { recordedEventsRoute } from '../../support/recorded-runs.js';
import { afterCapture, INSPECT_ARGV, runStepsOver, useTempBundle } from '../support/step-context.js';

const NOW = new Date('2026-11-26T02:00:00Z');

/** The recorded server with the global limit switched off: a guardrail inspect fails. */
const brokenGuardrail = (): FakeRoutes => {
  const gcl = JSON.parse(recorded('gcl.json')) as Record<string, unknown>;
  return {
    ...recordedRoutes(),
    'GET /v2/concurrency_limits/hotpass-backfill': { status: 200, text: JSON.stringify({ ...gcl, active: false }) },
    'POST /events/filter': recordedEventsRoute(),
  };
};

const temp = useTempBundle('rehearse-exit-', NOW);

/** A bundle whose run step recorded the burst of 3, so validate has runs to judge. */
const afterRun = (): Promise<Summary> => afterCapture(temp.bundle, NOW);

async function rehearse(routes: FakeRoutes, initial: Summary) {
  const commands = [
    { match: INSPECT_ARGV, result: { exitCode: 0, stdout: recorded('deployment.inspect.stdout'), stderr: '' } },
  ];
  const steps = [inspectStep, validateStep({ flowRunIds: [], allRuns: false })];
  const { outcome } = await runStepsOver(temp.bundle, steps, initial, { now: NOW, cwd: temp.root, routes, commands });
  return outcome;
}

describe('the exit code is the worst verdict recorded', () => {
  it('a guardrail failed in inspect stays 1 when a later step cannot run (3)', async () => {
    const outcome = await rehearse(
      { ...brokenGuardrail(), 'GET /work_pools/hotpass-backfill-pool': NOT_FOUND },
      await afterRun(),
    );
    expect(outcome.summary.steps.find((s) => s.name === 'inspect')?.verdict).toBe('fail');
    expect(outcome.error?.exitCode).toBe(3);
    expect(outcome.exitCode).toBe(1);
  });

  it('a guardrail failed in inspect stays 1 after a later usage error (2)', async () => {
    // No run step in the bundle: validate has no runs to look at, a usage error.
    const outcome = await rehearse(brokenGuardrail(), newSummary(temp.bundle, NOW, { deployment: 'hotpass-backfill' }));
    expect(outcome.error?.exitCode).toBe(2);
    expect(outcome.exitCode).toBe(1);
  });

  it('without a failed guardrail, a step that cannot run still exits 3', async () => {
    const outcome = await rehearse(
      { ...recordedRoutes(), 'GET /work_pools/hotpass-backfill-pool': NOT_FOUND },
      await afterRun(),
    );
    expect(outcome.summary.steps.find((s) => s.name === 'inspect')?.verdict).toBe('pass');
    expect(outcome.exitCode).toBe(3);
  });
});
