import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Bundle, createBundle } from '../../../src/evidence/bundle.js';
import { newSummary } from '../../../src/evidence/summary-io.js';
import { runSteps } from '../../../src/steps/runner.js';
import type { Step } from '../../../src/steps/step.js';
import { createTestContext } from '../../support/context.js';
import { createFakeApi } from '../../support/fake-api.js';
import { createFakeRunner } from '../../support/fake-runner.js';

const NOW = new Date('2026-11-26T02:00:00Z');

let root: string;
let bundle: Bundle;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'rehearse-runner-dry-run-'));
  bundle = await createBundle(path.join(root, 'evidence'), NOW, (text) => text);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

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
  const ctx = createTestContext({
    runner: createFakeRunner([]),
    api: createFakeApi({}),
    now: () => NOW,
    cwd: root,
    flags: { dryRun },
  });
  const outcome = await runSteps(ctx, bundle, [tracing(calls)], newSummary(bundle, NOW, {}), {
    wholeRehearsal: false,
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
