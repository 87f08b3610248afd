import { withdrawAttestation } from '../attest/attestation.js';
import { type Bundle, writeChecksumManifest } from '../bundle/bundle.js';
import { type BundleStatus, EVIDENCE_STEPS, type StepRecord, type Summary } from '../bundle/summary.js';
import { saveSummary, settleVerdict, withStep } from '../bundle/summary-io.js';
import { type Context, forStep } from '../context.js';
import { ExitCode, isRehearseError, messageOf, RehearseError } from '../errors.js';
import { afterSettleExitCode, commandExitCode, stepVerdict } from '../guardrails/rollup.js';
import { writeVerdictNotes } from '../report/verdict-notes.js';
import { writeReport } from '../report/write.js';
import type { Step } from './step.js';

/** A step, or steps that do not depend on each other and run side by side. */
export type Stage = Step | Step[];

export interface StepsOutcome {
  summary: Summary;
  exitCode: number;
  /** Nothing was recorded: the command stopped on bad input before any step wrote evidence. */
  untouched: boolean;
  /** The error that stopped the rehearsal, if a step could not run. */
  error?: RehearseError;
  interrupted: boolean;
}

function finalStatus(
  summary: Summary,
  stoppedBy: 'error' | 'interrupt' | undefined,
  wholeRehearsal: boolean,
  before: BundleStatus,
  sealed: boolean,
): BundleStatus {
  // A sealed rehearsal stays what it was; filing it (upload), even interrupted, does not change its evidence.
  if (sealed && (before === 'complete' || before === 'failed-to-run')) return before;
  // Once interrupted, always interrupted: steps run by hand afterwards cannot make it whole.
  if (stoppedBy === 'interrupt' || before === 'interrupted') return 'interrupted';
  if (stoppedBy === 'error') return 'failed-to-run';
  const done = new Set(summary.steps.filter((s) => s.status === 'ok').map((s) => s.name));
  return wholeRehearsal && EVIDENCE_STEPS.every((name) => done.has(name)) ? 'complete' : 'partial';
}

/** Files a failing step wrote before it gave up, as it says in the error's data. */
function writtenBefore(error: RehearseError): string[] {
  const files = error.data?.files;
  return Array.isArray(files) ? files.filter((f): f is string => typeof f === 'string') : [];
}

/**
 * The error a step ended with. Once rehearse is interrupted, whatever the step then failed on (a request
 * its own abort cut short reads as an API that did not answer) is the interruption, not a fault to fix.
 */
function interruptedOr(caught: unknown, interrupted: boolean, stepName: string): RehearseError {
  if (isRehearseError(caught) && (!interrupted || caught.code === 'INTERRUPTED')) return caught;
  return new RehearseError('INTERRUPTED', `interrupted during ${stepName}`, {
    cause: caught,
    ...(isRehearseError(caught) && caught.data ? { data: caught.data } : {}),
  });
}

async function runOne(
  parent: Context,
  bundle: Bundle,
  step: Step,
  summary: Summary,
): Promise<{ record: StepRecord; error?: RehearseError; interrupted: boolean }> {
  const ctx = forStep(parent, step.name);
  const started = ctx.now();
  ctx.reporter.emit({ type: 'step-start', step: step.name, title: step.title });
  const elapsed = (): number => ctx.now().getTime() - started.getTime();
  try {
    const output = await (ctx.flags.dryRun && step.dryRun
      ? step.dryRun(ctx, bundle, summary)
      : step.run(ctx, bundle, summary));
    output.checks.forEach((check) => ctx.reporter.emit({ type: 'check', check }));
    const record: StepRecord = {
      name: step.name,
      title: step.title,
      status: output.skipped ? 'skipped' : 'ok',
      verdict: stepVerdict(output.checks, Boolean(output.skipped)),
      startedAt: started.toISOString(),
      durationMs: elapsed(),
      files: output.files,
      commands: ctx.journal,
      checks: output.checks,
      ...(output.data || output.skipped
        ? { data: { ...output.data, ...(output.skipped ? { skipped: output.skipped } : {}) } }
        : {}),
    };
    return { record, interrupted: false };
  } catch (caught) {
    const interrupted = ctx.signal.aborted;
    if (!isRehearseError(caught) && !interrupted) throw caught;
    const failure = interruptedOr(caught, interrupted, step.name);
    const record: StepRecord = {
      name: step.name,
      title: step.title,
      status: interrupted ? 'interrupted' : 'error',
      verdict: 'error',
      startedAt: started.toISOString(),
      durationMs: elapsed(),
      files: writtenBefore(failure),
      commands: ctx.journal,
      checks: [],
      error: {
        code: failure.code,
        message: bundle.redact(failure.message),
        ...(failure.hint ? { hint: failure.hint } : {}),
      },
      ...(failure.data ? { data: failure.data } : {}),
    };
    return { record, error: failure, interrupted };
  }
}

/** report.html and concurrency.svg follow the settled summary; a report that cannot be drawn never fails the evidence. */
async function refreshReport(ctx: Context, bundle: Bundle): Promise<void> {
  try {
    await writeReport(bundle.dir);
  } catch (caught) {
    ctx.reporter.emit({ type: 'warn', message: `report.html not refreshed: ${messageOf(caught)}` });
  }
}

interface StagesRun {
  summary: Summary;
  stoppedBy: 'error' | 'interrupt' | undefined;
  error: RehearseError | undefined;
  /** Steps that finished ok and have work to do once the summary is settled. */
  settled: Step[];
  recorded: number;
}

/** The stages in order, each step's record into the summary; after each stage, summary.json and the checksums are current. */
async function runStages(
  ctx: Context,
  bundle: Bundle,
  stages: Stage[],
  initial: Summary,
  existingBundle: boolean | undefined,
): Promise<StagesRun> {
  const run: StagesRun = {
    summary: { ...initial, status: initial.status === 'interrupted' ? 'interrupted' : 'in-progress' },
    stoppedBy: undefined,
    error: undefined,
    settled: [],
    recorded: 0,
  };
  for (const stage of stages) {
    if (ctx.signal.aborted) {
      run.stoppedBy = 'interrupt';
      break;
    }
    const steps = Array.isArray(stage) ? stage : [stage];
    const before = run.summary;
    const results = await Promise.all(steps.map((step) => runOne(ctx, bundle, step, before)));
    results.forEach((result, i) => {
      // A dry run made nothing a settled summary must follow (no far copy was sent).
      if (result.record.status === 'ok' && steps[i]?.afterSettle && !ctx.flags.dryRun)
        run.settled.push(steps[i] as Step);
    });
    for (const [index, result] of results.entries()) {
      ctx.reporter.emit({ type: 'step-end', record: result.record });
      if (result.error && !run.error) {
        run.error = result.error;
        run.stoppedBy = result.interrupted ? 'interrupt' : 'error';
      }
      // A step stopped before it wrote anything leaves the bundle as it was when the input was bad,
      // or when the bundle already held evidence (a failed rerun must not replace what an earlier run recorded).
      const wroteNothing = result.error && !result.interrupted && result.record.files.length === 0;
      const keepEarlier = existingBundle && !steps[index]?.recordsFailure;
      if (wroteNothing && (result.error?.exitCode === ExitCode.usage || keepEarlier)) continue;
      run.summary = withStep(run.summary, result.record);
      run.recorded += 1;
    }
    if (run.recorded === 0 && run.stoppedBy === 'error') break;
    run.summary = await withdrawAttestation(bundle, run.summary, ctx.now());
    await saveSummary(bundle, run.summary, ctx.now());
    await writeChecksumManifest(bundle);
    if (run.stoppedBy) break;
    if (ctx.flags.failFast && results.some((r) => r.record.verdict === 'fail')) break;
  }
  return run;
}

/**
 * Each settled step's follow-up (upload's re-send of the settled summary). One that fails turns its row into
 * an error, since its work is unfinished, and the verdict is settled again.
 */
async function followUp(
  ctx: Context,
  bundle: Bundle,
  steps: readonly Step[],
  settledSummary: Summary,
  settleFiles: (summary: Summary) => Promise<Summary>,
): Promise<{ summary: Summary; error?: RehearseError }> {
  let summary = settledSummary;
  let error: RehearseError | undefined;
  for (const step of steps) {
    try {
      await step.afterSettle?.(forStep(ctx, step.name), bundle, summary);
    } catch (caught) {
      if (!isRehearseError(caught)) throw caught;
      error ??= caught;
      const record = summary.steps.find((s) => s.name === step.name);
      if (!record) continue;
      const failure = {
        code: caught.code,
        message: bundle.redact(caught.message),
        ...(caught.hint ? { hint: caught.hint } : {}),
      };
      summary = settleVerdict(
        withStep(summary, { ...record, status: 'error', verdict: 'error', checks: [], error: failure }),
        summary.status,
      );
      summary = await settleFiles(summary);
    }
  }
  return { summary, ...(error ? { error } : {}) };
}

/** Runs stages in order into one bundle, then settles its status, verdict and files, then the follow-ups. */
export async function runSteps(
  ctx: Context,
  bundle: Bundle,
  stages: Stage[],
  initial: Summary,
  options: {
    wholeRehearsal: boolean;
    existingBundle?: boolean;
    /** Writes the settled summary.json, the attestation over the bundle, then SHA256SUMS. */
    attest?: (bundle: Bundle, summary: Summary, drawReport: () => Promise<void>) => Promise<Summary>;
  },
): Promise<StepsOutcome> {
  // The report is drawn from the final summary.json and notes.md; the attestation and SHA256SUMS then cover it.
  const settleFiles = async (settled: Summary): Promise<Summary> => {
    await writeVerdictNotes(bundle, settled, ctx.now());
    if (options.attest) return options.attest(bundle, settled, () => refreshReport(ctx, bundle));
    await saveSummary(bundle, settled, ctx.now());
    await refreshReport(ctx, bundle);
    await writeChecksumManifest(bundle);
    return settled;
  };
  const run = await runStages(ctx, bundle, stages, initial, options.existingBundle);
  const { stoppedBy } = run;
  if (run.recorded === 0 && run.error) {
    return { summary: initial, exitCode: run.error.exitCode, interrupted: false, untouched: true, error: run.error };
  }
  const status = finalStatus(run.summary, stoppedBy, options.wholeRehearsal, initial.status, initial.sealed);
  const ran = new Set<string>(stages.flat().map((step) => step.name));
  const exitCode = commandExitCode(
    run.error,
    stoppedBy === 'interrupt',
    run.summary.steps.filter((s) => ran.has(s.name)).flatMap((s) => s.checks),
  );
  // A finished rehearsal is sealed: from now on only its upload may touch it. The bundle's verdict and
  // exit code come from all its records (settleVerdict), so this command's own exit code is not written there.
  const settledSummary = await settleFiles({
    ...settleVerdict(run.summary, status),
    sealed: run.summary.sealed || (options.wholeRehearsal && status === 'complete'),
  });
  const followed = await followUp(ctx, bundle, run.settled, settledSummary, settleFiles);
  const summary = followed.summary;
  const error = run.error ?? followed.error;
  const finalCode = afterSettleExitCode(exitCode, error, Boolean(stoppedBy));
  return {
    summary,
    exitCode: finalCode,
    interrupted: stoppedBy === 'interrupt',
    untouched: false,
    ...(error ? { error } : {}),
  };
}
