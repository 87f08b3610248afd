import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bundle, createBundle } from '../../../src/evidence/bundle.js';
import type { Summary } from '../../../src/evidence/summary.js';
import { newSummary, withStep } from '../../../src/evidence/summary-io.js';
import { STATE_HISTORY_FILE } from '../../../src/steps/histories.js';
import { inspectStep } from '../../../src/steps/inspect.js';
import { runSteps } from '../../../src/steps/runner.js';
import { validateStep } from '../../../src/steps/validate.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi, type FakeRoutes, NOT_FOUND, recorded, recordedRoutes } from '../../support/fake-api.js';
import { createFakeRunner } from '../../support/fake-runner.js';
import { LIMITED_BURST, recordedEventsRoute, recordedRuns, stateHistoryOf } from '../../support/recorded-runs.js';

const NOW = new Date('2026-11-26T02:00:00Z');
const INSPECT_ARGV = [
  'uv',
  'run',
  'prefect',
  'deployment',
  'inspect',
  'hotpass-backfill/hotpass-backfill',
  '-o',
  'json',
];

/** The recorded server with the global limit switched off: a guardrail inspect fails. */
const brokenGuardrail = (): FakeRoutes => {
  const gcl = JSON.parse(recorded('gcl.json')) as Record<string, unknown>;
  return {
    ...recordedRoutes(),
    'GET /v2/concurrency_limits/hotpass-backfill': { status: 200, text: JSON.stringify({ ...gcl, active: false }) },
    'POST /events/filter': recordedEventsRoute(),
  };
};

let root: string;
let bundle: Bundle;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'rehearse-exit-'));
  bundle = await createBundle(path.join(root, 'dist/staging/backfill'), NOW, (text) => text);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A bundle whose run step recorded the burst of 3, so validate has runs to judge. */
async function afterRun(): Promise<Summary> {
  const runs = recordedRuns(LIMITED_BURST);
  await writeFile(
    path.join(bundle.dir, STATE_HISTORY_FILE),
    JSON.stringify(stateHistoryOf(LIMITED_BURST, '2026-11-26T01:29:05.000Z')),
  );
  return withStep(newSummary(bundle, NOW, { deployment: 'hotpass-backfill' }), {
    name: 'run',
    title: 'run',
    status: 'ok',
    verdict: 'pass',
    startedAt: '2026-11-26T01:28:28.100Z',
    durationMs: 1,
    files: [],
    commands: [],
    checks: [],
    data: {
      fullName: 'hotpass-backfill/hotpass-backfill',
      deploymentId: runs[0]?.deployment_id,
      flowRunIds: runs.map((r) => r.id),
      startedAt: '2026-11-26T01:28:28.100Z',
    },
  });
}

async function rehearse(routes: FakeRoutes, initial: Summary) {
  const runner = createFakeRunner([
    { match: INSPECT_ARGV, result: { exitCode: 0, stdout: recorded('deployment.inspect.stdout'), stderr: '' } },
  ]);
  const ctx = createTestContext({ runner, api: createFakeApi(routes), now: () => NOW, cwd: root });
  return runSteps(ctx, bundle, [inspectStep, validateStep({ flowRunIds: [], allRuns: false })], initial, {
    wholeRehearsal: false,
  });
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
    const outcome = await rehearse(brokenGuardrail(), newSummary(bundle, NOW, { deployment: 'hotpass-backfill' }));
    expect(outcome.error?.exitCode).toBe(2);
    expect(outcome.exitCode).toBe(1);
  });

  it('without a failed guardrail, a step that cannot run still exits 3', async () => {
    const outcome = await rehearse(
      { ...recordedRoutes(), 'GET /work_pools/hotpass-backfill-pool': NOT_FOUND },
      await afterRun(),
    );
    expect(outcome.summary.steps.find((s) => s.name === 'inspect')?.verdict).not.toBe('fail');
    expect(outcome.exitCode).toBe(3);
  });
});
