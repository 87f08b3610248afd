import path from 'node:path';
import fs from 'fs-extra';
import { describe, expect, it } from 'vitest';
import { createBundle } from '../../../../src/bundle/bundle.js';
import type { ConfigInput } from '../../../../src/config/schema.js';
import { createRedactor, MASK, type SecretKeeper } from '../../../../src/secrets/redact.js';
import { validateStep } from '../../../../src/steps/validate/validate.js';
import { type FakeRoutes, recorded, recordedRoutes } from '../../../support/fake-api.js';
import { recordedEventsRoute } from '../../../support/recorded-runs.js';
import { afterCapture, BUNDLES_DIR, runStepsOver, useTempDir } from '../../support/step-context.js';

const EARLIER = new Date('2026-11-26T01:30:00Z');
const NOW = new Date('2026-11-26T02:00:00Z');

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

const temp = useTempDir('rehearse-baseline-');

async function validate(now: Date, fakeRoutes: FakeRoutes, config: ConfigInput = {}, redact?: SecretKeeper) {
  const bundle = await createBundle(path.join(temp.dir, BUNDLES_DIR), now, redact ?? ((text) => text));
  const steps = [validateStep({ flowRunIds: [], allRuns: false })];
  const { outcome } = await runStepsOver(bundle, steps, await afterCapture(bundle, now), {
    now,
    cwd: temp.dir,
    routes: fakeRoutes,
    config,
    ...(redact ? { redact } : {}),
  });
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
    const other = path.join(temp.dir, BUNDLES_DIR, 'other');
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

  it('files the parameters drift in Next_Steps.md without the secret-named values, top-level or nested', async () => {
    await passingBaseline();
    const token = 'planted-notify-token-0c7d';
    const password = 'planted-db-password-a41f';
    const deployment = JSON.parse(recorded('deployment.api.json')) as { parameters: Record<string, unknown> };
    deployment.parameters = { ...deployment.parameters, notify_token: token, db: { password } };
    const { check } = await validate(
      NOW,
      { ...routes(), ...recordedRoutes({ deploymentText: JSON.stringify(deployment) }) },
      {},
      createRedactor([]),
    );
    // The check names both keys; its values are in the reason, which the terminal and JUnit mask too.
    expect(check('baseline.parameters')?.verdict).toBe('fail');
    expect(check('baseline.parameters')?.reason).toMatch(/\bdb: .*\bnotify_token: /);
    const ledger = await fs.readFile(path.join(temp.dir, 'Next_Steps.md'), 'utf8');
    expect(ledger).toContain('deployment parameters unchanged since the last passing rehearsal');
    expect(ledger).not.toContain(token);
    expect(ledger).not.toContain(password);
    expect(ledger).toContain(MASK);
  });
});
