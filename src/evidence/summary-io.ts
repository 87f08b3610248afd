import { createRequire } from 'node:module';
import { worstVerdict } from '../guardrails/verdict.js';
import { type Bundle, writeEvidence } from './bundle.js';
import {
  type BundleStatus,
  STEP_NAMES,
  type StepRecord,
  SUMMARY_FILE,
  SUMMARY_SCHEMA,
  type Summary,
} from './summary.js';

const require = createRequire(import.meta.url);
const TOOL_VERSION: string = (require('../../package.json') as { version: string }).version;

export function newSummary(bundle: Bundle, now: Date, target: Record<string, unknown>): Summary {
  return {
    schema: SUMMARY_SCHEMA,
    bundle: bundle.name,
    createdAt: now.toISOString(),
    updatedAt: now.toISOString(),
    status: 'in-progress',
    sealed: false,
    verdict: 'incomplete',
    exitCode: 0,
    tool: { name: 'rehearse', version: TOOL_VERSION, node: process.version },
    prefect: {},
    target,
    steps: [],
    checks: [],
  };
}

/** The latest record of each step replaces earlier ones; checks are those of the latest records. */
export function withStep(summary: Summary, record: StepRecord): Summary {
  const steps = [...summary.steps.filter((s) => s.name !== record.name), record].sort(
    (a, b) => STEP_NAMES.indexOf(a.name as never) - STEP_NAMES.indexOf(b.name as never),
  );
  return { ...summary, steps, checks: steps.flatMap((s) => s.checks) };
}

/** Only a complete, uninterrupted rehearsal can carry a verdict of pass. */
export function settleVerdict(summary: Summary, status: BundleStatus): Summary {
  const verdict = status === 'complete' || status === 'partial' ? worstVerdict(summary.checks) : 'incomplete';
  const bundleVerdict = status === 'complete' ? verdict : verdict === 'fail' ? 'fail' : 'incomplete';
  return { ...summary, status, verdict: bundleVerdict };
}

export async function saveSummary(bundle: Bundle, summary: Summary, now: Date): Promise<void> {
  await writeEvidence(
    bundle,
    SUMMARY_FILE,
    `${JSON.stringify({ ...summary, updatedAt: now.toISOString() }, null, 2)}\n`,
    now,
  );
}
