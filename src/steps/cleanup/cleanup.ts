import { loadExpectedGuardrails } from '../../config/manifest-file.js';
import type { Context } from '../../context.js';
import { RehearseError } from '../../errors.js';
import { type CancelledRun, cancelFlowRuns, cancelTypeFor } from '../../prefect/cancel.js';
import { releaseClaimOf } from '../../prefect/claim.js';
import {
  fullName,
  listWorkers,
  readDeployment,
  readGlobalLimit,
  resolveDeploymentName,
} from '../../prefect/queries.js';
import { filterFlowRuns } from '../../prefect/runs.js';
import type { Deployment, FlowRun } from '../../prefect/schemas.js';
import { TERMINAL } from '../../prefect/schemas.js';
import { resetActiveSlots, slotLimitNames } from '../../prefect/slots.js';

/** Leftovers of one rehearsal (its bundle's tag), or of every rehearsal on the deployment. */
export type CleanupScope = { tag: string; runIds: string[] } | { all: true };

export interface SlotRelease {
  limit: string;
  activeSlots: number;
  /** Live runs that may hold slots of this limit; while there are any, its slots are left alone. */
  liveHolders: number;
  action: 'freed' | 'kept' | 'none' | 'would free';
  status?: number;
}

export interface CleanupReport {
  deployment: string;
  liveWorkers: number;
  runs: { id: string; name: string; from: string; to: string; forced: boolean; cameBack?: boolean; status?: number }[];
  leftOver: string[];
  slots: SlotRelease[];
  /** The bundle whose claim on the deployment was given back (prefect/claim.ts), if one was held. */
  claimReleased?: string;
}

const STARTED = ['PENDING', 'RUNNING', 'CANCELLING'];
const REHEARSE_TAG = /^rehearse-(.+)$/;
// A worker is live while it heartbeats; Prefect marks it OFFLINE after a few missed beats.
const isLive = (worker: { status?: string | null | undefined }): boolean => worker.status === 'ONLINE';

/** Unfinished runs of the deployment that carry `tag` (all of them with no tag). */
async function openRunsOf(ctx: Context, deploymentId: string, tag?: string): Promise<FlowRun[]> {
  const filter = {
    deployment_id: { any_: [deploymentId] },
    state: { type: { not_any_: [...TERMINAL] } },
    ...(tag ? { tags: { all_: [tag] } } : {}),
  };
  return filterFlowRuns(ctx.api, filter);
}

/** Limits the deployment's runs take slots of: its own, and the global limit its concurrency key names. */
async function limitNames(ctx: Context, deployment: Deployment): Promise<string[]> {
  const expected = await loadExpectedGuardrails(ctx.prefect.projectDir, ctx.config.manifest).catch(() => undefined);
  return slotLimitNames(deployment, [
    deployment.parameters.concurrency_key,
    ctx.config.run.parameters.concurrency_key,
    expected?.concurrencyKey,
  ]);
}

/**
 * `prefect gcl update NAME --active-slots 0`, through the API, for limits no live run can be holding:
 * a run killed with its server or worker never gives its slot back. With live holders nothing is
 * touched, since how many slots each holds is the flow's business.
 */
export async function freeHeldSlots(
  ctx: Context,
  deployment: Deployment,
  ending: ReadonlySet<string>,
): Promise<SlotRelease[]> {
  const out: SlotRelease[] = [];
  const holders = liveHolders(ctx, deployment, ending);
  for (const name of await limitNames(ctx, deployment)) {
    const limit = await readGlobalLimit(ctx.api, name);
    if (!limit) continue;
    // Runs are read only for a limit that holds slots, and the server's live runs only for one other deployments may take.
    const count = limit.active_slots > 0 ? await holders(name) : 0;
    const row: SlotRelease = { limit: name, activeSlots: limit.active_slots, liveHolders: count, action: 'none' };
    if (limit.active_slots > 0 && count > 0) row.action = 'kept';
    if (limit.active_slots > 0 && count === 0) {
      const status = await resetActiveSlots(ctx.api, limit.id);
      // In a dry run the context printed the PATCH instead of sending it; the step only words the row.
      row.action = ctx.flags.dryRun ? 'would free' : 'freed';
      row.status = status;
    }
    out.push(row);
  }
  return out;
}

/**
 * How many live runs may hold a limit's slots, at least: the deployment's own (read with a filter on it), and
 * for a limit its concurrency key names with none of those live, any run naming that key (the API cannot filter
 * on parameters: every started run on the server, a read left until such a limit holds slots). Each read is
 * made once; only whether the count is 0 decides what is freed.
 */
function liveHolders(
  ctx: Context,
  deployment: Deployment,
  ending: ReadonlySet<string>,
): (limitName: string) => Promise<number> {
  const started = { state: { type: { any_: STARTED } } };
  let own: Promise<FlowRun[]> | undefined;
  let all: Promise<FlowRun[]> | undefined;
  const live = (runs: FlowRun[]): FlowRun[] => runs.filter((run) => !ending.has(run.id));
  return async (name) => {
    own ??= filterFlowRuns(ctx.api, { ...started, deployment_id: { any_: [deployment.id] } });
    const mine = live(await own);
    if (name === deployment.global_concurrency_limit?.name || mine.length > 0) return mine.length;
    all ??= filterFlowRuns(ctx.api, started);
    return live(await all).filter((run) => run.parameters?.concurrency_key === name).length;
  };
}

type RunRow = CleanupReport['runs'][number];

function planned(run: FlowRun, workers: number): RunRow {
  const started = cancelTypeFor(run) === 'CANCELLING';
  const from = run.state_name ?? run.state_type ?? '?';
  const to = started && workers > 0 ? 'CANCELLING' : 'CANCELLED';
  return { id: run.id, name: run.name, from, to, forced: started && workers === 0 };
}

const done = (r: CancelledRun): RunRow => ({
  id: r.id,
  name: r.name,
  from: r.from,
  to: r.state,
  forced: Boolean(r.forced),
  ...(r.cameBack ? { cameBack: true } : {}),
  status: r.status,
});

/**
 * Cancel a rehearsal's leftover runs and free the slots they held. With a live worker in the pool a
 * started run first gets Cancelling (its worker stops the process) and a grace period; one no worker
 * owns is forced Cancelled at once, since Cancelling would stay so forever.
 */
export async function cleanupRehearsal(
  ctx: Context,
  scope: CleanupScope,
  options: { graceMs?: number } = {},
): Promise<CleanupReport> {
  const ref = await resolveDeploymentName(ctx.api, ctx.config.deployment);
  const { deployment } = await readDeployment(ctx.api, ref);
  const pool = deployment.work_pool_name ?? ctx.config.workPool;
  const workers = (await listWorkers(ctx.api, pool).catch(() => [])).filter(isLive).length;
  const open = await openRunsOf(ctx, deployment.id, 'all' in scope ? 'rehearse' : scope.tag);
  const report: CleanupReport = { deployment: fullName(ref), liveWorkers: workers, runs: [], leftOver: [], slots: [] };
  // cancelFlowRuns waits for final states a dry run never makes: the step says which state each run would get.
  if (ctx.flags.dryRun) {
    report.runs = open.map((run) => planned(run, workers));
  } else if (open.length > 0 || ('runIds' in scope && scope.runIds.length > 0)) {
    const ids = [...new Set([...open.map((r) => r.id), ...('runIds' in scope ? scope.runIds : [])])];
    const outcome = await cancelFlowRuns(ctx.api, ids, 'tag' in scope ? scope.tag : undefined, {
      reason: 'Cancelled by rehearse cleanup: a leftover run of a rehearsal',
      graceMs: workers > 0 ? (options.graceMs ?? 20_000) : 0,
      progress: (line) => ctx.reporter.emit({ type: 'info', message: `  ${line}` }),
      clock: ctx.clock,
    });
    report.runs = outcome.cancelled.map(done);
    report.leftOver = outcome.leftOver;
  }
  // A real run has ended its runs by now; a dry run's are still live, and are counted as they would be: ended.
  report.slots = await freeHeldSlots(ctx, deployment, new Set(ctx.flags.dryRun ? open.map((r) => r.id) : []));
  const bundle = 'tag' in scope ? REHEARSE_TAG.exec(scope.tag)?.[1] : undefined;
  const released = await releaseClaimOf(ctx.api, deployment.id, bundle, ctx.flags.dryRun);
  if (released) report.claimReleased = released;
  return report;
}

/** What cleanup did (or, in a dry run, would do), one line each. */
export function describeCleanup(report: CleanupReport, dryRun: boolean): string[] {
  const would = dryRun ? 'would ' : '';
  const why = report.liveWorkers ? ' (forced: no worker stopped it)' : ' (forced: no live worker in the pool)';
  const lines =
    report.runs.length === 0
      ? [`no unfinished rehearsal run on ${report.deployment}`]
      : report.runs.map(
          (r) =>
            `${r.name} (${r.id}): ${r.from} -> ${would}${r.to}${r.forced ? why : ''}` +
            `${r.cameBack ? ' (its flow process set it Running again: cancelled again)' : ''}`,
        );
  for (const slot of report.slots) {
    const name = `limit ${slot.limit}`;
    if (slot.action === 'none') lines.push(`${name}: no slot held`);
    else if (slot.action === 'kept') {
      const held = `${slot.activeSlots} slot(s) held, left as is`;
      lines.push(`${name}: ${held}: ${slot.liveHolders} live run(s) may hold them`);
    } else lines.push(`${name}: ${would}free ${slot.activeSlots} slot(s) no live run holds (active slots -> 0)`);
  }
  if (report.claimReleased)
    lines.push(`${would}give back the claim of rehearsal ${report.claimReleased} on the deployment`);
  if (report.leftOver.length) {
    lines.push(`${report.leftOver.length} run(s) could not be cancelled: ${report.leftOver.join(', ')}`);
  }
  return lines;
}

/**
 * Runs of another rehearsal still live on the deployment take slots of the same limits and would be
 * counted with ours: say so before this one starts. Only a warning: the rehearsal's own checks judge.
 */
export async function warnOtherRehearsals(ctx: Context, bundleName: string): Promise<void> {
  try {
    const ref = await resolveDeploymentName(ctx.api, ctx.config.deployment);
    const { deployment } = await readDeployment(ctx.api, ref);
    const mine = `rehearse-${bundleName}`;
    const others = new Map<string, number>();
    for (const run of await openRunsOf(ctx, deployment.id, 'rehearse')) {
      const tag = (run.tags ?? []).find((t) => REHEARSE_TAG.test(t) && t !== mine);
      if (tag) others.set(tag, (others.get(tag) ?? 0) + 1);
    }
    for (const [tag, count] of others) {
      const bundle = REHEARSE_TAG.exec(tag)?.[1] ?? tag;
      ctx.reporter.emit({
        type: 'warn',
        message:
          `${count} unfinished run(s) of another rehearsal (bundle ${bundle}) on ${fullName(ref)}: they share ` +
          "its limits and will be counted with this rehearsal's; wait for them, or end them with " +
          `\`rehearse cleanup --bundle <evidence root>/${bundle}\``,
      });
    }
  } catch (error) {
    // The steps themselves report an unreachable server or a missing deployment, with their hints.
    if (!(error instanceof RehearseError)) throw error;
  }
}
