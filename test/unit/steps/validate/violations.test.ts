import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Check } from '../../../../src/guardrails/verdict.js';
import type { Observed } from '../../../../src/steps/validate/judge.js';
import { fileViolations } from '../../../../src/steps/validate/notes.js';
import { createTestContext } from '../../../support/context.js';
import { createFakeApi } from '../../../support/fake-api.js';
import { createFakeRunner } from '../../../support/fake-runner.js';
import { useTempBundle } from '../../support/step-context.js';

const NOW = new Date('2026-11-26T02:00:00Z');
const temp = useTempBundle('rehearse-violations-', NOW);
const seen = {
  ref: { flow: 'hotpass-backfill', deployment: 'hotpass-backfill' },
  expected: { source: 'prefect/deployments/hotpass-backfill.yaml' },
} as unknown as Observed;

const failed = (id: string, reason: string): Check => ({ id, step: 'validate', title: id, verdict: 'fail', reason });

/** The task fileViolations adds to Next_Steps.md for these failed checks. */
async function taskFor(violations: Check[]): Promise<string> {
  const ctx = createTestContext({ runner: createFakeRunner([]), api: createFakeApi({}), cwd: temp.root });
  await fileViolations(ctx, temp.bundle, seen, violations);
  const ledger = await readFile(path.join(temp.root, 'Next_Steps.md'), 'utf8');
  return ledger.split('\n').find((line) => line.startsWith('- [ ]')) ?? '';
}

describe('the task a violation files', () => {
  it('for held slots only, says cleanup gives them back, not that a guardrail needs restoring', async () => {
    const task = await taskFor([failed('slots.released', 'hotpass-backfill holds 2 more than before (0 -> 2)')]);
    expect(task).toContain('Give back the held slots with `rehearse cleanup` and rerun the rehearsal');
    expect(task).not.toContain('Restore the guardrails');
  });

  it('for a limit exceeded and slots held, names both fixes', async () => {
    const task = await taskFor([
      failed('concurrency.manifest_limit', '4 runs RUNNING at once'),
      failed('slots.released', 'hotpass-backfill holds 2 more than before (0 -> 2)'),
    ]);
    expect(task).toContain(
      'Restore the guardrails from prefect/deployments/hotpass-backfill.yaml, give back the held slots with `rehearse cleanup` and rerun',
    );
  });
});
