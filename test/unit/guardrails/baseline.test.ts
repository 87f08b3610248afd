import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fs from 'fs-extra';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findBaseline } from '../../../src/bundle/baseline.js';
import { type Bundle, createBundle } from '../../../src/bundle/bundle.js';
import { newSummary, withStep } from '../../../src/bundle/summary-io.js';
import type { GuardrailSnapshot } from '../../../src/guardrails/baseline.js';

const GUARDRAILS: GuardrailSnapshot = {
  deploymentLimit: 2,
  collisionStrategy: 'ENQUEUE',
  workPool: 'hotpass-backfill-pool',
  workPoolLimit: 2,
  concurrencyKey: 'hotpass-backfill',
  globalLimit: 2,
  globalLimitActive: true,
  parameters: { concurrency_limit: 2 },
};

let root: string;
beforeEach(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'rehearse-baseline-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A bundle whose summary.json says it passed for hotpass-backfill, its validate step recording `guardrails`. */
async function passed(at: string, guardrails: unknown): Promise<Bundle> {
  const bundle = await createBundle(root, new Date(at), (text) => text);
  const summary = withStep(newSummary(bundle, new Date(at), { deployment: 'hotpass-backfill' }), {
    name: 'validate',
    title: 'validate',
    status: 'ok',
    verdict: 'pass',
    startedAt: at,
    durationMs: 1,
    files: [],
    commands: [],
    checks: [],
    data: { guardrails },
  });
  await fs.writeJson(path.join(bundle.dir, 'summary.json'), { ...summary, status: 'complete', verdict: 'pass' });
  return bundle;
}

describe('the baseline: the last passing rehearsal of the deployment, from its summary.json', () => {
  it('takes the newest passing bundle, and passes over what is not a rehearse bundle', async () => {
    await passed('2026-11-26T01:00:00Z', GUARDRAILS);
    const newer = await passed('2026-11-26T02:00:00Z', { ...GUARDRAILS, workPoolLimit: 3 });
    // Newer still, and says it passed, but it is no summary rehearse wrote (no schema, no tool, no steps' records).
    await fs.outputJson(path.join(root, 'notes', 'summary.json'), {
      createdAt: '2026-11-26T03:00:00Z',
      verdict: 'pass',
      target: { deployment: 'hotpass-backfill' },
      steps: [{ name: 'validate', data: { guardrails: GUARDRAILS } }],
    });
    await fs.outputFile(path.join(root, 'broken', 'summary.json'), '{"verdict": "pa');
    expect(await findBaseline(root, 'hotpass-backfill', 'none')).toEqual({
      bundle: newer.name,
      createdAt: '2026-11-26T02:00:00.000Z',
      snapshot: { ...GUARDRAILS, workPoolLimit: 3 },
    });
  });

  it('refuses a passing bundle whose recorded guardrails are not what rehearse wrote, naming it and the field', async () => {
    await passed('2026-11-26T01:00:00Z', GUARDRAILS);
    const edited = await passed('2026-11-26T02:00:00Z', { ...GUARDRAILS, workPoolLimit: '2' });
    const caught = await findBaseline(root, 'hotpass-backfill', 'none').catch((error: unknown) => error);
    expect(caught).toMatchObject({
      code: 'BUNDLE_INVALID',
      message: `summary.json of bundle ${edited.name}, a passing rehearsal under ${root}: the data its validate step recorded is not what rehearse wrote (guardrails.workPoolLimit: Invalid input: expected number, received string)`,
      hint: `move that bundle out of ${root}, so the baseline is the passing rehearsal before it`,
    });
  });
});
