import { describe, expect, it } from 'vitest';
import { newSummary } from '../../../src/bundle/summary-io.js';
import type { Step } from '../../../src/steps/step.js';
import { runStepsOver, useTempBundle } from '../support/step-context.js';

const NOW = new Date('2026-11-26T02:00:00Z');

const temp = useTempBundle('rehearse-runner-dry-run-', NOW);

/** A step that says which of its parts the runner called, in order. */
function tracing(calls: string[]): Step {
  return {
    name: 'upload',
    title: 'upload',
    run: async () => {
      calls.push('run');
      return { checks: [], files: [], data: { by: 'run' } };
    },
    dryRun: async () => {
      calls.push('dryRun');
      return { checks: [], files: [], data: { by: 'dryRun' } };
    },
    afterSettle: async () => {
      calls.push('afterSettle');
    },
  };
}

async function runTracing(dryRun: boolean): Promise<{ calls: string[]; data: unknown }> {
  const calls: string[] = [];
  const { outcome } = await runStepsOver(temp.bundle, [tracing(calls)], newSummary(temp.bundle, NOW, {}), {
    now: NOW,
    cwd: temp.root,
    flags: { dryRun },
  });
  return { calls, data: outcome.summary.steps[0]?.data };
}

describe("the runner's dry-run rule", () => {
  it("calls a step's dryRun() instead of run() in a dry run, and no afterSettle: nothing was sent to follow", async () => {
    expect(await runTracing(true)).toEqual({ calls: ['dryRun'], data: { by: 'dryRun' } });
  });

  it('calls run() and then afterSettle() otherwise', async () => {
    expect(await runTracing(false)).toEqual({ calls: ['run', 'afterSettle'], data: { by: 'run' } });
  });
});
