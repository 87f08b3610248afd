import { describe, expect, it } from 'vitest';
import { applyFixes, describeFix } from '../../../../src/steps/doctor/fix.js';
import type { DoctorCheck } from '../../../../src/steps/doctor/kinds.js';
import { createTestContext } from '../../../support/context.js';
import { createFakeApi } from '../../../support/fake-api.js';
import { argvOf, createFakeRunner } from '../../../support/fake-runner.js';

const PATCH = ['api', 'PATCH', '/deployments/d-1', '--data', '{"paused": false}'];
const paused: DoctorCheck = {
  id: 'deployment.exists',
  step: 'preflight',
  title: 'deployment exists and is not paused',
  verdict: 'fail',
  reason: 'paused',
  kind: 'blocker',
  fix: 'uv run prefect deployment schedule pause a/b s-1 && uv run prefect api PATCH …',
  apply: [['deployment', 'schedule', 'pause', 'a/b', 's-1'], PATCH],
};
const unnameable: DoctorCheck = {
  id: 'global_limit.free',
  step: 'preflight',
  title: 'global limit',
  verdict: 'fail',
  reason: 'unnameable',
  kind: 'finding',
  fix: 'rename concurrency_key in the manifest',
};
const passing: DoctorCheck = { id: 'api.health', step: 'preflight', title: 'api', verdict: 'pass', reason: 'ok' };

function contextWith(exitCode = 0) {
  const runner = createFakeRunner([
    {
      match: ['uv', 'run', 'prefect'],
      result: { exitCode, stdout: '', stderr: exitCode ? 'token=s3cr3t refused' : '' },
    },
  ]);
  const ctx = createTestContext({ runner, api: createFakeApi({}), redact: (text) => text.replaceAll('s3cr3t', '***') });
  return { ctx, runner };
}

describe('doctor --fix', () => {
  it('with --yes runs each safe fix command in order, through the configured Prefect command, and lists the rest', async () => {
    const { ctx, runner } = contextWith();
    const records = await applyFixes(ctx, [passing, paused, unnameable], { yes: true });
    expect(runner.calls.map(argvOf)).toEqual([
      ['uv', 'run', 'prefect', 'deployment', 'schedule', 'pause', 'a/b', 's-1'],
      ['uv', 'run', 'prefect', ...PATCH],
    ]);
    expect(runner.calls.every((c) => c.readOnly === false)).toBe(true);
    expect(records.map((r) => [r.check, r.outcome])).toEqual([
      ['deployment.exists', 'applied'],
      ['global_limit.free', 'manual'],
    ]);
    expect(describeFix(records[1] as never)).toBe(
      'yours to do (rehearse does not apply it): global_limit.free: rename concurrency_key in the manifest',
    );
  });

  it('asks before each fix on a terminal and applies only what was answered yes', async () => {
    const { ctx, runner } = contextWith();
    const questions: string[] = [];
    const records = await applyFixes(ctx, [paused], {
      yes: false,
      ask: async (question) => {
        questions.push(question);
        return false;
      },
    });
    expect(questions).toEqual([
      'apply the fix for deployment.exists: uv run prefect deployment schedule pause a/b s-1 && uv run prefect api PATCH /deployments/d-1 --data \'{"paused": false}\'?',
    ]);
    expect(runner.calls).toEqual([]);
    expect(records[0]?.outcome).toBe('declined');
  });

  it('applies nothing without a terminal to ask and without --yes, and says how to apply', async () => {
    const { ctx, runner } = contextWith();
    const records = await applyFixes(ctx, [paused], { yes: false });
    expect(runner.calls).toEqual([]);
    expect(describeFix(records[0] as never)).toContain('no terminal to ask; --yes applies it');
  });

  it('stops a fix at its first failed command and keeps the masked output', async () => {
    const { ctx, runner } = contextWith(1);
    const [record] = await applyFixes(ctx, [paused], { yes: true });
    expect(runner.calls).toHaveLength(1);
    expect(record).toMatchObject({ outcome: 'failed', exitCode: 1, output: ['token=*** refused'] });
  });
});
