import type { Context } from '../context.js';
import { writeChecksumManifest, type Bundle } from '../evidence/bundle.js';
import { saveSummary, settleVerdict, withStep } from '../evidence/summary-io.js';
import { STEP_NAMES, type BundleStatus, type StepRecord, type Summary } from '../evidence/summary.js';
import { isRehearseError, RehearseError } from '../errors.js';
import { worstVerdict } from '../guardrails/verdict.js';
import type { Step } from './step.js';

export interface StepsOutcome {
  summary: Summary;
  /** The error that stopped the rehearsal, if a step could not run. */
  error?: RehearseError;
  interrupted: boolean;
}

function finalStatus(summary: Summary, stoppedBy: 'error' | 'interrupt' | undefined, wholeRehearsal: boolean): BundleStatus {
  if (stoppedBy === 'interrupt') return 'interrupted';
  if (stoppedBy === 'error') return 'failed-to-run';
  const done = new Set(summary.steps.filter((s) => s.status === 'ok').map((s) => s.name));
  const all = STEP_NAMES.every((name) => done.has(name));
  return all && wholeRehearsal ? 'complete' : 'partial';
}

/** Runs steps in order into one bundle; after each, summary.json and the checksums are current. */
export async function runSteps(ctx: Context, bundle: Bundle, steps: Step[], initial: Summary, options: { wholeRehearsal: boolean }): Promise<StepsOutcome> {
  let summary: Summary = { ...initial, status: 'in-progress' };
  let stoppedBy: 'error' | 'interrupt' | undefined;
  let error: RehearseError | undefined;
  for (const step of steps) {
    if (ctx.signal.aborted) {
      stoppedBy = 'interrupt';
      break;
    }
    ctx.currentStep = step.name;
    const firstEntry = ctx.journal.length;
    const started = ctx.now();
    ctx.reporter.emit({ type: 'step-start', step: step.name, title: step.title });
    let record: StepRecord;
    try {
      const output = await step.run(ctx, bundle, summary);
      output.checks.forEach((check) => ctx.reporter.emit({ type: 'check', check }));
      record = {
        name: step.name, title: step.title, status: 'ok', verdict: worstVerdict(output.checks),
        startedAt: started.toISOString(), durationMs: ctx.now().getTime() - started.getTime(),
        files: output.files, commands: ctx.journal.slice(firstEntry), checks: output.checks,
        ...(output.data ? { data: output.data } : {}),
      };
      if (output.checks.length === 0) record.verdict = 'pass';
    } catch (caught) {
      const interrupted = ctx.signal.aborted;
      if (!isRehearseError(caught) && !interrupted) throw caught;
      const failure = isRehearseError(caught) ? caught : new RehearseError('INTERRUPTED', 'interrupted', { cause: caught });
      record = {
        name: step.name, title: step.title, status: interrupted ? 'interrupted' : 'error', verdict: 'error',
        startedAt: started.toISOString(), durationMs: ctx.now().getTime() - started.getTime(),
        files: [], commands: ctx.journal.slice(firstEntry), checks: [],
        error: { code: failure.code, message: bundle.redact(failure.message), ...(failure.hint ? { hint: failure.hint } : {}) },
      };
      stoppedBy = interrupted ? 'interrupt' : 'error';
      error = failure;
    }
    summary = withStep(summary, record);
    await saveSummary(bundle, summary, ctx.now());
    await writeChecksumManifest(bundle);
    ctx.reporter.emit({ type: 'step-end', record });
    if (stoppedBy) break;
    if (ctx.flags.failFast && record.verdict === 'fail') break;
  }
  summary = settleVerdict(summary, finalStatus(summary, stoppedBy, options.wholeRehearsal));
  await saveSummary(bundle, summary, ctx.now());
  await writeChecksumManifest(bundle);
  return { summary, interrupted: stoppedBy === 'interrupt', ...(error ? { error } : {}) };
}
