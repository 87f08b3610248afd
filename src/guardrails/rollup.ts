import { ExitCode, exitCodeOfError } from '../errors.js';
import { type Check, type Verdict, worstVerdict } from './verdict.js';

/**
 * How check verdicts roll up, in one place: into a step's verdict, a bundle's verdict, the exit code of
 * the command that ran some steps and that of the bundle as a whole, the ledgers' verdict, and what a dry
 * run says. The runner, summary-io, verify, upload and the session call these; none decides on its own.
 */

type Verdicts = readonly Pick<Check, 'verdict'>[];

const EXIT_OF_VERDICT: Record<Verdict, number> = {
  pass: ExitCode.ok,
  fail: ExitCode.guardrailFailed,
  inconclusive: ExitCode.inconclusive,
};

/** A step that ran to its end: skipped, else its worst check (a step that judges nothing passes). */
export function stepVerdict(checks: Verdicts, skipped: boolean): Verdict | 'skipped' {
  if (skipped) return 'skipped';
  return checks.length ? worstVerdict(checks) : 'pass';
}

/**
 * The exit code of a command from the checks of the steps it ran (not those of earlier runs in the same
 * bundle): a failed guardrail halts a release, so it stays 1 whatever came after; then an error, an
 * interruption, and an inconclusive check, in that order.
 */
export function commandExitCode(error: { exitCode: number } | undefined, interrupted: boolean, checks: Verdicts) {
  const verdict = checks.length === 0 ? undefined : worstVerdict(checks);
  if (verdict === 'fail') return ExitCode.guardrailFailed;
  if (error) return error.exitCode;
  if (interrupted) return ExitCode.couldNotRun;
  return verdict === 'inconclusive' ? ExitCode.inconclusive : ExitCode.ok;
}

/** A step's follow-up that failed once the verdict was settled turns the exit code into its error's, unless a guardrail failed. */
export function afterSettleExitCode(exitCode: number, error: { exitCode: number } | undefined, stopped: boolean) {
  return error && !stopped && exitCode !== ExitCode.guardrailFailed ? error.exitCode : exitCode;
}

interface RecordedStep {
  status: string;
  checks: Verdicts;
  error?: { code: string } | undefined;
}

/**
 * A bundle's verdict and exit code from every step recorded in it, not only from those the last command ran.
 * A failed check is `fail` (exit 1) whatever the status; only a complete rehearsal can carry `pass`, and its
 * checks alone decide its exit code. Otherwise a step that could not run (or an interruption) decides, then
 * the checks.
 */
export function bundleVerdict(
  summary: { steps: readonly RecordedStep[]; checks: Verdicts },
  status: string,
): { verdict: Verdict | 'incomplete'; exitCode: number } {
  const { steps, checks } = summary;
  const worst = worstVerdict(checks);
  const verdict = status === 'complete' ? worst : worst === 'fail' ? 'fail' : 'incomplete';
  if (status === 'complete' || worst === 'fail') return { verdict, exitCode: EXIT_OF_VERDICT[worst] };
  const stopped = steps.filter((s) => s.status === 'error' || s.status === 'interrupted');
  const codes = stopped.map((s) => (s.error ? exitCodeOfError(s.error.code) : ExitCode.couldNotRun));
  if (status === 'interrupted' || status === 'abandoned') codes.push(ExitCode.couldNotRun);
  if (codes.length) return { verdict, exitCode: Math.max(...codes) };
  return { verdict, exitCode: checks.length && worst === 'inconclusive' ? ExitCode.inconclusive : ExitCode.ok };
}

/**
 * What the ledgers say of a bundle: a failed check fails it, but a pass needs every evidence step to have
 * run, so a bundle of one step by hand is never filed as a passed rehearsal.
 */
export function ledgerVerdict(
  summary: { steps: readonly (RecordedStep & { name: string })[]; checks: Verdicts },
  evidenceSteps: readonly string[],
): Verdict | 'incomplete' {
  const { steps, checks } = summary;
  if (checks.length === 0) return 'incomplete';
  const worst = worstVerdict(checks);
  if (worst === 'fail') return worst;
  const done = new Set(steps.filter((s) => s.status === 'ok').map((s) => s.name));
  return evidenceSteps.every((name) => done.has(name)) ? worst : 'incomplete';
}

/** A dry run triggered nothing, so it proves nothing: its plan never reads as a verdict. */
export const DRY_RUN_VERDICT = { status: 'partial', verdict: 'incomplete', sealed: false } as const;
