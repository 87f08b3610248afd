import type { Bundle } from '../bundle/bundle.js';
import type { StepName, Summary } from '../bundle/summary.js';
import type { Context } from '../context.js';
import type { Check } from '../guardrails/verdict.js';

export interface StepOutput {
  checks: Check[];
  files: string[];
  /** What later steps (or a later run by hand) need from this one, kept in summary.json. */
  data?: Record<string, unknown>;
  /** Set when the step had nothing to do (the reason): it is recorded as skipped, not as passed. */
  skipped?: string;
}

/**
 * One runbook step. The whole rehearsal and a step run by hand go through the same object;
 * what a step needs from earlier steps it reads from the bundle's summary.
 */
export interface Step {
  name: StepName;
  title: string;
  run(ctx: Context, bundle: Bundle, summary: Summary): Promise<StepOutput>;
  /**
   * What the runner calls instead of run() in a dry run, for a step whose work cannot go on past the commands
   * a dry run only prints (the run step: nothing is created, so nothing can be watched). Without it, run() runs
   * and its context runs the read-only commands and prints the others.
   */
  dryRun?(ctx: Context, bundle: Bundle, summary: Summary): Promise<StepOutput>;
  /** Called once summary.json and SHA256SUMS are final, for steps whose work must see them (upload). */
  afterSettle?(ctx: Context, bundle: Bundle, summary: Summary): Promise<void>;
  /** Its failure replaces its earlier record even when it wrote nothing: filing, not evidence (upload). */
  recordsFailure?: boolean;
}
