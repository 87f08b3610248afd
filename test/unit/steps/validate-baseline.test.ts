import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ConfigInput } from '../../../src/config/schema.js';
import { type Bundle, createBundle } from '../../../src/evidence/bundle.js';
import type { Summary } from '../../../src/evidence/summary.js';
import { newSummary, withStep } from '../../../src/evidence/summary-io.js';
import { STATE_HISTORY_FILE } from '../../../src/steps/histories.js';
import { runSteps } from '../../../src/steps/runner.js';
import { validateStep } from '../../../src/steps/validate.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi, type FakeRoutes, recorded, recordedRoutes } from '../../support/fake-api.js';
import { createFakeRunner } from '../../support/fake-runner.js';
import { LIMITED_BURST, recordedEventsRoute, recordedRuns, stateHistoryOf } from '../../support/recorded-runs.js';

const EARLIER = new Date('2026-11-26T01:30:00Z');
const NOW = new Date('2026-11-26T02:00:00Z');
const ROOT = 'dist/staging/backfill';

/** The recorded server; the work pool's limit replaced when given. */
function routes(poolLimit?: number): FakeRoutes {
  const pool = JSON.parse(recorded('work-pool.api.json')) as Record<string, unknown>;
  return {
    ...recordedRoutes(),
    'POST /events/filter': recordedEventsRoute(),
    ...(poolLimit === undefined
      ? {}
      : {
          'GET /work_pools/hotpass-backfill-pool': {
            status: 200,
            text: JSON.stringify({ ...pool, concurrency_limit: poolLimit }),
          },
        }),
  };
}

let cwd: string;
beforeEach(async () => {
  cwd = await mkdtemp(path.join(tmpdir(), 'rehearse-baseline-'));
});
afterEach(async () => {
  await rm(cwd, { recursive: true, force: true });
});

/** A bundle after run and capture of the recorded burst of 3. */
async function captured(bundle: Bundle, now: Date): Promise<Summary> {
  const runs = recordedRuns(LIMITED_BURST);
  await writeFile(
    path.join(bundle.dir, STATE_HISTORY_FILE),
    JSON.stringify(stateHistoryOf(LIMITED_BURST, '2026-11-26T01:29:05.000Z')),
  );
  return withStep(newSummary(bundle, now, { deployment: 'hotpass-backfill' }), {
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

async function validate(now: Date, fakeRoutes: FakeRoutes, config: ConfigInput = {}) {
  const bundle = await createBundle(path.join(cwd, ROOT), now, (text) => text);
  const ctx = createTestContext({
    runner: createFakeRunner([]),
    api: createFakeApi(fakeRoutes),
    now: () => now,
    cwd,
    config,
  });
  const outcome = await runSteps(
    ctx,
    bundle,
    [validateStep({ flowRunIds: [], allRuns: false })],
    await captured(bundle, now),
    { wholeRehearsal: false },
  );
  const step = outcome.summary.steps.find((s) => s.name === 'validate');
  if (!step) throw new Error('no validate step');
  return { bundle, outcome, step, check: (id: string) => step.checks.find((c) => c.id === id) };
}

/** The healthy rehearsal, recorded as a whole one that passed: the baseline of the next. */
async function passingBaseline(): Promise<string> {
  const first = await validate(EARLIER, routes());
  expect(first.step.checks.filter((c) => c.id.startsWith('baseline.'))).toEqual([]);
  const file = path.join(first.bundle.dir, 'summary.json');
  await fs.writeJson(file, { ...(await fs.readJson(file)), status: 'complete', verdict: 'pass' });
  return first.bundle.name;
}

describe('baseline.* and expect.*: guardrails against the last passing rehearsal and the configuration', () => {
  it('fails a pool limit loosened 2 → 10, naming the earlier bundle, while the pool limit itself reads shielded', async () => {
    const earlier = await passingBaseline();
    const { step, outcome, check } = await validate(NOW, routes(10));
    expect(check('baseline.work_pool_limit')).toMatchObject({ verdict: 'fail', expected: 2, actual: 10 });
    expect(check('baseline.work_pool_limit')?.reason).toBe(
      `work-pool limit changed 2 → 10 since ${earlier}, the last passing rehearsal: restore it, or accept it with expect.workPoolLimit in rehearse.config`,
    );
    expect(check('baseline.deployment_limit')?.verdict).toBe('pass');
    expect(check('baseline.parameters')?.verdict).toBe('pass');
    expect(check('concurrency.work_pool_limit')?.verdict).toBe('pass');
    expect(check('concurrency.work_pool_limit')?.reason).toMatch(
      /^shielded: at most 2 runs RUNNING can happen under the deployment limit of 2/,
    );
    expect(step.data).toMatchObject({ baseline: earlier });
    expect(outcome.exitCode).toBe(1);
  });

  it('passes that drift when expect.workPoolLimit accepts it', async () => {
    const earlier = await passingBaseline();
    const { outcome, check } = await validate(NOW, routes(10), { expect: { workPoolLimit: 10 } });
    expect(check('baseline.work_pool_limit')?.verdict).toBe('pass');
    expect(check('baseline.work_pool_limit')?.reason).toBe(
      `work-pool limit changed 2 → 10 since ${earlier}, accepted by expect.workPoolLimit`,
    );
    expect(check('expect.work_pool_limit')?.verdict).toBe('pass');
    expect(outcome.exitCode).toBe(0);
  });

  it('fails a value the configuration expects that the server does not have, baseline or not', async () => {
    const { check } = await validate(NOW, routes(), { expect: { workPoolLimit: 10 } });
    expect(check('expect.work_pool_limit')).toMatchObject({
      verdict: 'fail',
      reason: 'expect.workPoolLimit is 10, the server has 2',
    });
  });

  it('names the parameters that changed, and ignores bundles of another deployment or that did not pass', async () => {
    await passingBaseline();
    const other = path.join(cwd, ROOT, 'other');
    await fs.outputJson(path.join(other, 'summary.json'), {
      bundle: 'other',
      createdAt: '2026-11-26T01:59:00Z',
      verdict: 'pass',
      target: { deployment: 'elsewhere' },
      steps: [{ name: 'validate', data: { guardrails: { workPoolLimit: 99 } } }],
    });
    const deployment = JSON.parse(recorded('deployment.api.json')) as { parameters: Record<string, unknown> };
    deployment.parameters = { ...deployment.parameters, concurrency_limit: 5 };
    const text = JSON.stringify(deployment);
    const { check } = await validate(NOW, {
      ...routes(),
      ...recordedRoutes({ deploymentText: text }),
      'POST /events/filter': recordedEventsRoute(),
    });
    expect(check('baseline.work_pool_limit')?.verdict).toBe('pass');
    expect(check('baseline.parameters')?.verdict).toBe('fail');
    expect(check('baseline.parameters')?.reason).toMatch(
      /^deployment parameters changed concurrency_limit: 2 → 5 since /,
    );
  });
});
