import { createRequire } from 'node:module';
import { ExitCode, exitCodeOfError } from '../errors.js';
import { type Verdict, worstVerdict } from '../guardrails/verdict.js';
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

const EXIT_OF_VERDICT = { pass: ExitCode.ok, fail: ExitCode.guardrailFailed, inconclusive: ExitCode.inconclusive };

/**
 * The bundle's exit code from every step recorded in it, not only from those the last command ran:
 * a failed check is 1 whatever else happened; otherwise a step that could not run (or an interruption)
 * decides, then the checks. A complete bundle has every evidence step ok: its checks alone decide.
 */
function bundleExitCode(summary: Summary, status: BundleStatus, worst: Verdict): number {
  if (status === 'complete' || worst === 'fail') return EXIT_OF_VERDICT[worst];
  const stopped = summary.steps.flatMap((s) => (s.status === 'error' || s.status === 'interrupted' ? [s] : []));
  const codes = stopped.map((s) => (s.error ? exitCodeOfError(s.error.code) : ExitCode.couldNotRun));
  if (status === 'interrupted' || status === 'abandoned') codes.push(ExitCode.couldNotRun);
  if (codes.length) return Math.max(...codes);
  return summary.checks.length && worst === 'inconclusive' ? ExitCode.inconclusive : ExitCode.ok;
}

/**
 * The one place a bundle's verdict and exit code are settled, from every step recorded in it. So a later
 * command never makes them better (a capture run by hand cannot lift an interrupted rehearsal to 0, nor an
 * upload a failed guardrail): only a step that decided them, rerun in full, replaces its own record and so
 * may. A failed check stays `fail` whatever the status; only a complete rehearsal can carry `pass`.
 */
export function settleVerdict(summary: Summary, status: BundleStatus): Summary {
  const worst = worstVerdict(summary.checks);
  const verdict = status === 'complete' ? worst : worst === 'fail' ? 'fail' : 'incomplete';
  return { ...summary, status, verdict, exitCode: bundleExitCode(summary, status, worst) };
}

export async function saveSummary(bundle: Bundle, summary: Summary, now: Date): Promise<void> {
  await writeEvidence(
    bundle,
    SUMMARY_FILE,
    `${JSON.stringify({ ...summary, updatedAt: now.toISOString() }, null, 2)}\n`,
    now,
  );
}
