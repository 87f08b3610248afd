import { type Bundle, writeEvidence } from '../../bundle/bundle.js';
import type { Context } from '../../context.js';
import { isRehearseError, RehearseError, tailOf } from '../../errors.js';
import { type CancelOutcome, cancelFlowRuns } from '../../prefect/cancel.js';
import { TERMINAL } from '../../prefect/schemas.js';
import { assertRan } from '../prefect-cli.js';
import { CREATED_RUNS_FILE, type RunLedger, type RunPlan } from './burst.js';
import type { WatchResult } from './watch.js';

/** How the run step ends when it does not end well: the error, and the rehearsal's runs cancelled. */

const STUCK_HINT =
  'runs that stay Scheduled mean no worker polls the pool, AwaitingConcurrencySlot a slot held elsewhere: ' +
  'run `rehearse doctor`; raise timeouts.watchSeconds for longer backfills';

/** The error for a watch that ended other than with every run final. */
export function watchFailure(ctx: Context, watch: WatchResult): RehearseError {
  if (watch.end === 'interrupted')
    return new RehearseError('INTERRUPTED', 'interrupted while watching the rehearsal runs');
  if (watch.end === 'api-lost') {
    return new RehearseError(
      'API_UNREACHABLE',
      `the Prefect API at ${ctx.prefect.apiUrl} stopped answering while the rehearsal ran (${watch.apiError})`,
      {
        hint: 'check the server or port-forward, then rerun; the runs already created are listed in summary.json',
      },
    );
  }
  if (watch.end === 'timeout') {
    const open = watch.runs.filter((r) => !TERMINAL.has(r.state_type ?? ''));
    return new RehearseError('TIMEOUT', `rehearsal runs had not finished after ${ctx.config.timeouts.watchSeconds} s`, {
      details: open.map((r) => `${r.name} (${r.id}): ${r.state_name}`),
      hint: STUCK_HINT,
    });
  }
  if (watch.cli) assertRan(watch.cli, 'the watched rehearsal run');
  return new RehearseError('COMMAND_FAILED', 'prefect deployment run created no flow run', {
    details: tailOf(watch.cliOutput),
    hint: `see ${ctx.config.run.logFile} in the bundle`,
  });
}

/** One line for the log, the terminal and the error: what happened to the runs. */
function describeCancel(ledger: RunLedger, outcome: CancelOutcome | undefined): string {
  if (!outcome) return `${ledger.ids.length} run(s) left as they were (--leave-runs)`;
  if (outcome.unanswered) {
    return (
      `the server did not answer, so ${outcome.leftOver.length} run(s) could not be cancelled and may still be ` +
      `unfinished: ${outcome.leftOver.join(', ')}; run \`rehearse cleanup\` once it answers`
    );
  }
  if (outcome.cancelled.length === 0 && outcome.leftOver.length === 0)
    return 'no run of the rehearsal was left unfinished';
  const left = new Set(outcome.leftOver);
  // A run whose cancel failed is both attempted and left over: only the others count as cancelled.
  const done = outcome.cancelled.filter((r) => !left.has(r.id));
  const names = done.map(
    (r) =>
      `${r.name || r.id} ${r.from} -> ${r.state}${r.forced ? ' (forced)' : ''}${r.cameBack ? ' (came back Running: cancelled again)' : ''}`,
  );
  const leftSaid = left.size ? `; ${left.size} could not be cancelled: ${outcome.leftOver.join(', ')}` : '';
  return `${done.length} unfinished run(s) cancelled on the server${names.length ? ` (${names.join(', ')})` : ''}${leftSaid}`;
}

/** Shorter deadlines when the server is gone or the operator is waiting on Ctrl-C. */
function cancelDeadlineMs(ctx: Context, error: unknown): number {
  if (ctx.signal.aborted) return 30_000;
  return isRehearseError(error) && error.code === 'API_UNREACHABLE' ? 15_000 : 60_000;
}

export interface FailureInput {
  plan: RunPlan;
  ledger: RunLedger;
  cliOutput: string;
  data: Record<string, unknown>;
}

/**
 * Cancels the rehearsal's runs (unless --leave-runs), writes what the CLI printed and what was
 * cancelled to the log, and returns the error to throw, its data naming every run created.
 */
export async function settleFailure(
  ctx: Context,
  bundle: Bundle,
  input: FailureInput,
  caught: unknown,
): Promise<unknown> {
  const interrupted = ctx.signal.aborted;
  const reason = `Cancelled by rehearse: the rehearsal ${interrupted ? 'was interrupted' : 'could not finish'}`;
  const outcome = ctx.flags.leaveRuns
    ? undefined
    : await cancelFlowRuns(ctx.api, input.ledger.ids, input.plan.tag, {
        reason,
        deadlineMs: cancelDeadlineMs(ctx, caught),
        graceMs: 15_000,
        progress: (line) => ctx.reporter.emit({ type: 'info', message: `  ${line}` }),
        clock: ctx.clock,
      });
  const said = describeCancel(input.ledger, outcome);
  ctx.reporter.emit({ type: 'info', message: `  ${said}` });
  const failure =
    isRehearseError(caught) && !(interrupted && caught.code !== 'INTERRUPTED')
      ? caught
      : new RehearseError('INTERRUPTED', 'interrupted while the rehearsal runs were being created or watched', {
          cause: caught,
        });
  const { logFile } = ctx.config.run;
  const why =
    failure.code === 'API_UNREACHABLE' && failure.message.includes('stopped answering')
      ? `The Prefect API stopped answering during the watch: ${failure.message}`
      : `${failure.code}: ${failure.message}`;
  await writeEvidence(bundle, logFile, `${input.cliOutput}\n# ${why}\n# ${said}\n`, ctx.now());
  if (!isRehearseError(caught) && !interrupted) return caught;
  return new RehearseError(failure.code, `${failure.message}; ${said}`, {
    details: failure.details,
    hint: interrupted
      ? 'a run stopped while it held a slot of the global limit may keep that slot until the server ' +
        'reclaims its lease: ' +
        '`rehearse doctor` shows held slots before the next rehearsal'
      : (failure.hint ?? 'see the log in the bundle'),
    cause: caught,
    data: {
      ...failure.data,
      ...input.data,
      flowRunIds: outcome?.runIds ?? input.ledger.ids,
      cancelled: outcome?.cancelled ?? [],
      ...(outcome?.leftOver.length ? { leftOver: outcome.leftOver } : {}),
      ...(interrupted ? { interrupted: true } : {}),
      files: [logFile, CREATED_RUNS_FILE],
    },
  });
}
