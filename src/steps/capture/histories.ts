import { STATE_HISTORY_FILE } from '../../bundle/files.js';
import type { Summary } from '../../bundle/summary.js';
import type { Context } from '../../context.js';
import { RehearseError } from '../../errors.js';
import type { RunHistory } from '../../guardrails/peak.js';
import { filterFlowRuns, readStateHistory } from '../../prefect/runs.js';
import { lastState, TERMINAL } from '../../prefect/schemas.js';
import { mapLimited } from '../../util/map-limited.js';
import { runStepData } from '../run/data.js';

export { STATE_HISTORY_FILE };

export interface StateHistoryFile {
  asOf: string;
  deploymentId: string | null;
  /** The rehearsal's own runs; the others ran on the deployment during the rehearsal. */
  rehearsalRunIds: string[];
  runs: (RunHistory & { rehearsal: boolean })[];
}

export interface RunSelection {
  deploymentId: string | null;
  rehearsalRunIds: string[];
  startedAt: string | null;
}

/** In a dry run the run step triggered nothing: say what would be read, and stop there. */
export function planWithoutRuns(ctx: Context, summary: Summary, explicit: string[], what: string[]): boolean {
  const known = explicit.length > 0 || (runStepData(summary)?.flowRunIds.length ?? 0) > 0;
  if (!ctx.flags.dryRun || known) return false;
  for (const line of what)
    ctx.reporter.emit({ type: 'command-start', step: ctx.currentStep, display: line, dryRun: true });
  return true;
}

/** The rehearsal's runs, from the run step's record or from --flow-run; with allRuns, none are needed. */
export function selectRuns(
  summary: Summary,
  explicit: string[],
  options: { allRuns?: boolean; deploymentId?: string } = {},
): RunSelection {
  const run = runStepData(summary);
  const ids = explicit.length ? explicit : (run?.flowRunIds ?? []);
  if (ids.length === 0 && !options.allRuns) {
    throw new RehearseError('USAGE', 'no flow runs to look at: this bundle has no run step', {
      hint: 'run `rehearse run` first, name the runs with --flow-run ID (repeatable), or take every run of the deployment with --all-runs',
    });
  }
  return {
    deploymentId: run?.deploymentId ?? options.deploymentId ?? null,
    rehearsalRunIds: ids,
    startedAt: run?.startedAt ?? null,
  };
}

/**
 * "As of" on the server's clock: just after the latest state Prefect stamped. Every closed interval
 * ends by then and every open one is open then, so the peak is exact whatever the local clock says.
 */
export function findServerAsOf(runs: readonly RunHistory[], fallback: Date): string {
  let latest = Number.NEGATIVE_INFINITY;
  for (const run of runs) for (const state of run.states) latest = Math.max(latest, Date.parse(state.timestamp));
  return Number.isFinite(latest) ? new Date(latest + 1).toISOString() : fallback.toISOString();
}

/** How long after the rehearsal's last run ended another run may still have started and counted. */
const END_MARGIN_MS = 60_000;

type History = StateHistoryFile['runs'][number];

/**
 * The end of the rehearsal's window on the server's clock: its runs' last state plus a margin, once
 * every one of them is final. While one is still open it has no end yet: later runs overlap it.
 */
function rehearsalEnd(own: readonly RunHistory[]): string | undefined {
  if (own.length === 0) return undefined;
  const final = own.every((run) => {
    const last = lastState(run.states);
    return last !== undefined && TERMINAL.has(last.type);
  });
  if (!final) return undefined;
  return new Date(Date.parse(findServerAsOf(own, new Date())) + END_MARGIN_MS).toISOString();
}

async function readHistories(
  ctx: Context,
  ids: readonly string[],
  labels: { names: Map<string, string>; rehearsal: Set<string>; done: number; total: number },
): Promise<History[]> {
  return mapLimited(ids, 8, async (id) => {
    const states = await readStateHistory(ctx.api, id);
    labels.done += 1;
    if (labels.done % 100 === 0)
      ctx.reporter.emit({
        type: 'waiting',
        step: ctx.currentStep,
        message: `read ${labels.done} of ${labels.total} state histories`,
      });
    const kept = states.map((s) => ({ id: s.id, timestamp: s.timestamp, type: s.type, name: s.name ?? null }));
    return named(id, labels.names, labels.rehearsal.has(id), kept);
  });
}

const named = (runId: string, names: Map<string, string>, rehearsal: boolean, states: History['states']): History => ({
  runId,
  ...(names.has(runId) ? { runName: names.get(runId) as string } : {}),
  rehearsal,
  states,
});

/**
 * State histories of the rehearsal's runs and of every other run of the deployment that
 * started during the rehearsal (they hold slots too): from its start to the end of its runs (see
 * rehearsalEnd); with allRuns, of every run of the deployment.
 */
export async function collectStateHistories(
  ctx: Context,
  selection: RunSelection,
  options: { allRuns: boolean },
): Promise<StateHistoryFile> {
  const rehearsal = new Set(selection.rehearsalRunIds);
  const labels = { names: new Map<string, string>(), rehearsal, done: 0, total: rehearsal.size };
  const own = await readHistories(ctx, [...rehearsal], labels);
  const end = options.allRuns ? undefined : rehearsalEnd(own);
  const others =
    selection.deploymentId && (options.allRuns || selection.startedAt)
      ? await filterFlowRuns(ctx.api, {
          deployment_id: { any_: [selection.deploymentId] },
          ...(options.allRuns ? {} : { start_time: { after_: selection.startedAt, ...(end ? { before_: end } : {}) } }),
        })
      : [];
  for (const run of others) labels.names.set(run.id, run.name);
  const rest = others.map((r) => r.id).filter((id) => !rehearsal.has(id));
  labels.total += rest.length;
  const histories = [
    ...own.map(({ runId, rehearsal: mine, states }) => named(runId, labels.names, mine, states)),
    ...(await readHistories(ctx, [...new Set(rest)], labels)),
  ];
  return {
    asOf: findServerAsOf(histories, ctx.now()),
    deploymentId: selection.deploymentId,
    rehearsalRunIds: selection.rehearsalRunIds,
    runs: histories,
  };
}
