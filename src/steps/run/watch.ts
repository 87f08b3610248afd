import type { Context } from '../../context.js';
import { RehearseError } from '../../errors.js';
import { filterFlowRuns, readFlowRuns } from '../../prefect/runs.js';
import type { FlowRun } from '../../prefect/schemas.js';
import { TERMINAL } from '../../prefect/schemas.js';
import type { Command, ProcessResult } from '../../process/command.js';
import type { RunLedger, RunPlan } from './burst.js';

const RUN_ID_LINE = /^└── UUID: ([0-9a-f-]{36})$/m;
const URL_LINE = /^└── URL: (\S+)$/m;
const POLL_MS = 1000;
/** The CLI's watch prints each state change of its run as an event line, e.g. `prefect.flow-run.Completed`. */
const FINAL_EVENT_LINE = /\bprefect\.flow-run\.(Completed|Failed|Crashed|Cancelled)\b/;
/** Polls in a row the API may miss before the rehearsal gives up on it. */
const MISSES_ALLOWED = 3;

/**
 * Why the watch ended. The API decides, not the CLI: its watch can hang on a run that ended
 * before it started watching (CANCEL_NEW), or on a server that went away.
 */
type WatchEnd = 'all-final' | 'cli-ended' | 'api-lost' | 'timeout' | 'interrupted';

export interface WatchResult {
  end: WatchEnd;
  runs: FlowRun[];
  primaryId: string | undefined;
  cli: ProcessResult | undefined;
  cliOutput: string;
  printedUrl: string | undefined;
  /** Set when the CLI was still watching and rehearse stopped it. */
  stoppedCli: boolean;
  apiError?: string;
}

export interface WatchInput {
  plan: RunPlan;
  ledger: RunLedger;
  /** The CLI that creates (or, with a work queue, watches) the primary run; none in a dry run. */
  command: Command | undefined;
  primaryId: string | undefined;
  /** When the watch gives up, on ctx.clock. */
  deadline: number;
  /** Whether runs of the rehearsal are still to be made (a burst waiting for the CLI's run): the watch goes on. */
  holdOpen?: () => boolean;
  /** Whether a fault has the API down on purpose now: polls it misses meanwhile do not count as the API lost. */
  apiExcused?: () => boolean;
  /** Each poll's answer, e.g. to open the run page once the primary runs. */
  onRuns?: (runs: FlowRun[], primaryId: string | undefined, printedUrl: string | undefined) => void;
}

interface WatchState {
  primaryId: string | undefined;
  printedUrl: string | undefined;
  cli: ProcessResult | undefined;
  runs: FlowRun[];
  misses: number;
  apiError?: string;
  lastWaiting: string;
  adding: Promise<void>[];
  /** Ends the current pause between polls: the CLI has just printed a run's final state. */
  wake: () => void;
}

/** The rehearsal's runs now: those it knows by id, plus unfinished ones carrying its tag it has not seen yet. */
async function pollRuns(ctx: Context, input: WatchInput, state: WatchState): Promise<void> {
  const known = await readFlowRuns(ctx.api, input.ledger.ids);
  // Only until the CLI's run is known: it may exist before the CLI prints its id.
  const tagged = state.primaryId ? [] : await filterFlowRuns(ctx.api, { tags: { all_: [input.plan.tag] } });
  // A finished run with the tag that is not ours came from an earlier attempt on the same bundle.
  const fresh = tagged.filter((r) => !input.ledger.has(r.id) && !TERMINAL.has(r.state_type ?? ''));
  for (const run of fresh) state.adding.push(input.ledger.add(run, 'cli (found by tag)'));
  if (!state.primaryId && fresh.length === 1 && !input.plan.workQueue) state.primaryId = fresh[0]?.id;
  state.runs = [...known, ...fresh];
}

function reportWaiting(ctx: Context, state: WatchState): void {
  const running = state.runs.filter((r) => r.state_type === 'RUNNING').length;
  const waiting = state.runs.filter((r) => !TERMINAL.has(r.state_type ?? '') && r.state_type !== 'RUNNING');
  const line = waiting.length
    ? `waiting: ${waiting.map((r) => `${r.name} ${r.state_name}`).join(', ')}${running ? `; ${running} running` : ''}`
    : '';
  if (line && line !== state.lastWaiting) ctx.reporter.emit({ type: 'waiting', step: 'run', message: line });
  state.lastWaiting = line;
}

/** Why the watch should end now, if it should. */
function endOf(ctx: Context, input: WatchInput, state: WatchState): WatchEnd | undefined {
  if (ctx.signal.aborted) return 'interrupted';
  if (state.misses >= MISSES_ALLOWED) return 'api-lost';
  if (state.cli && !state.primaryId) return 'cli-ended';
  const byId = new Map(state.runs.map((r) => [r.id, r]));
  const final = input.ledger.ids.every((id) => TERMINAL.has(byId.get(id)?.state_type ?? ''));
  if (state.primaryId && input.ledger.has(state.primaryId) && final && !input.holdOpen?.()) return 'all-final';
  if (ctx.clock.now() >= input.deadline) return 'timeout';
  return undefined;
}

async function pollOnce(ctx: Context, input: WatchInput, state: WatchState): Promise<void> {
  try {
    await pollRuns(ctx, input, state);
    state.misses = 0;
    input.onRuns?.(state.runs, state.primaryId, state.printedUrl);
    reportWaiting(ctx, state);
  } catch (error) {
    const lost = error instanceof RehearseError && (error.code === 'API_UNREACHABLE' || error.code === 'API_ERROR');
    if (!lost || ctx.signal.aborted) {
      if (ctx.signal.aborted) return;
      throw error;
    }
    // A server a fault stopped is waited for (the fault restarts it within its own deadline, and the watch's
    // deadline still holds); the poll after the restart counts again.
    if (input.apiExcused?.()) return;
    state.misses += 1;
    state.apiError = error.message;
  }
}

function lineReader(ctx: Context, input: WatchInput, state: WatchState): (line: string) => void {
  return (line) => {
    const id = RUN_ID_LINE.exec(line)?.[1];
    if (id && !state.primaryId) {
      state.primaryId = id;
      state.adding.push(input.ledger.add({ id, name: '' }, 'cli'));
    }
    state.printedUrl ??= URL_LINE.exec(line)?.[1];
    if (/AwaitingConcurrencySlot|Late/.test(line))
      ctx.reporter.emit({ type: 'waiting', step: 'run', message: `queued: ${line.trim()}` });
    if (FINAL_EVENT_LINE.test(line)) state.wake();
  };
}

/** Runs the CLI's watch and polls the API beside it until every run of the rehearsal is final (or it cannot be). */
export async function watchRuns(ctx: Context, input: WatchInput): Promise<WatchResult> {
  const state: WatchState = {
    primaryId: input.primaryId,
    printedUrl: undefined,
    cli: undefined,
    runs: [],
    misses: 0,
    lastWaiting: '',
    adding: [],
    wake: () => undefined,
  };
  const stop = new AbortController();
  const signal = AbortSignal.any([ctx.signal, stop.signal]);
  const onStdoutLine = lineReader(ctx, input, state);
  const cliDone = input.command
    ? ctx.runner.run(input.command, { onStdoutLine, signal }).then((result) => {
        state.cli = result;
        onStdoutLine(RUN_ID_LINE.exec(result.stdout)?.[0] ?? '');
        onStdoutLine(URL_LINE.exec(result.stdout)?.[0] ?? '');
      })
    : Promise.resolve();
  let end: WatchEnd | undefined;
  let stoppedCli = false;
  try {
    for (;;) {
      await pollOnce(ctx, input, state);
      end = endOf(ctx, input, state);
      if (end) break;
      // Woken early when the CLI prints a final state and once when it ends; otherwise one poll per interval.
      const woken = new Promise<void>((resolve) => {
        state.wake = resolve;
      });
      await Promise.race([ctx.clock.sleep(POLL_MS, signal), woken, ...(state.cli ? [] : [cliDone])]);
    }
  } finally {
    stoppedCli = !state.cli && Boolean(input.command);
    stop.abort();
    await cliDone;
    await Promise.all(state.adding);
  }
  const cliOutput = state.cli ? state.cli.stdout + state.cli.stderr : '';
  return {
    end,
    runs: state.runs,
    primaryId: state.primaryId,
    cli: state.cli,
    cliOutput,
    printedUrl: state.printedUrl,
    stoppedCli,
    ...(state.apiError ? { apiError: state.apiError } : {}),
  };
}
