import { createRequire } from 'node:module';
import { bundleVerdict } from '../guardrails/rollup.js';
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

/**
 * The bundle's verdict and exit code settled from every step recorded in it (guardrails/rollup.ts). So a later
 * command never makes them better (a capture run by hand cannot lift an interrupted rehearsal to 0, nor an
 * upload a failed guardrail): only a step that decided them, rerun in full, replaces its own record and so may.
 */
export function settleVerdict(summary: Summary, status: BundleStatus): Summary {
  return { ...summary, status, ...bundleVerdict(summary, status) };
}

export async function saveSummary(bundle: Bundle, summary: Summary, now: Date): Promise<void> {
  await writeEvidence(
    bundle,
    SUMMARY_FILE,
    `${JSON.stringify({ ...summary, updatedAt: now.toISOString() }, null, 2)}\n`,
    now,
  );
}
