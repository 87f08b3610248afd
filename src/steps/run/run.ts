import path from 'node:path';
import type { RunPage } from '../../browser/screenshot.js';
import { type Bundle, writeEvidence, writeStagedEvidence } from '../../bundle/bundle.js';
import { SCREENSHOT_FILE } from '../../bundle/files.js';
import { table, updateNotes } from '../../bundle/notes.js';
import type { StepDataInput } from '../../bundle/step-data.js';
import { stopsServer } from '../../config/faults.js';
import type { Context } from '../../context.js';
import { RehearseError, tailOf } from '../../errors.js';
import type { Check } from '../../guardrails/verdict.js';
import { envAuthHeaders } from '../../prefect/api.js';
import type { CancelledRun } from '../../prefect/cancel.js';
import { claimDeployment, type DeploymentClaim } from '../../prefect/claim.js';
import { watchFlowRunArgs } from '../../prefect/cli-args.js';
import { prefectCommand, runDeploymentCommand } from '../../prefect/commands.js';
import { prefectLine } from '../../prefect/fixes.js';
import { fullName } from '../../prefect/queries.js';
import type { FlowRun } from '../../prefect/schemas.js';
import { TERMINAL } from '../../prefect/schemas.js';
import { type HeldSlots, readHeldSlots, slotLimitNames } from '../../prefect/slots.js';
import type { Command } from '../../process/command.js';
import { cliOf } from '../prefect-cli.js';
import type { Step } from '../step.js';
import {
  burstMaker,
  CREATED_RUNS_FILE,
  createBurst,
  openRunLedger,
  plannedLedger,
  type RunLedger,
  type RunPlan,
  runKeyOf,
} from './burst.js';
import type { ScreenshotRecord } from './data.js';
import { settleFailure, watchFailure } from './failure.js';
import { type RunFaults, runFaults } from './faults.js';
import { runPageUrl } from './page.js';
import { planRun } from './plan.js';
import { type WatchResult, watchRuns } from './watch.js';

export { checkParameters } from './plan.js';

type RunPageOpener = (request: {
  url: string;
  signal: AbortSignal;
  extraHeaders?: Record<string, string>;
}) => Promise<RunPage | undefined>;

/** Chromium on the run page; unit tests inject one that opens nothing. */
const openWithChromium: RunPageOpener = (request) =>
  import('../../browser/screenshot.js')
    .then(({ openRunPage }) => openRunPage(request))
    .then(
      (page) => ('capture' in page ? page : undefined),
      () => undefined,
    );

export interface RunStepOptions {
  openPage?: RunPageOpener;
  /** 'exceed-limit' (the whole rehearsal): one more run than the strictest limit, so the guardrail is exercised. */
  defaultBurst: 'one' | 'exceed-limit';
}

/** How a run a fault hit ends on purpose: cancel-run cancels it, kill-flow leaves the worker to report it Crashed. */
const ENDED_BY_FAULT = new Set(['CANCELLED', 'CRASHED']);

/**
 * What to do about runs that ended badly. A run the flow itself failed or crashed is the flow's (or its
 * inputs') doing: its own logs say why, and cleaning up would change nothing. A run still live is
 * what `rehearse cleanup` ends. Nothing is said when neither applies (the report's fallback stands).
 */
function endedBadlyFix(bad: FlowRun[], unfinished: FlowRun[], cli: readonly string[]): string {
  const failed = bad.find((r) => r.state_type === 'FAILED' || r.state_type === 'CRASHED');
  const logs = failed
    ? `read why in \`${prefectLine(cli, ['flow-run', 'logs', failed.id])}\` (${failed.name}; the others' logs likewise), fix the flow or what it reads`
    : undefined;
  const live = unfinished.length ? '`rehearse cleanup --all` ends the runs still live' : undefined;
  const parts = [logs, live].filter((p): p is string => p !== undefined);
  return parts.length ? `; fix: ${parts.join('; ')}, then rerun \`rehearse backfill\`` : '';
}

export function runsCheck(
  runs: FlowRun[],
  primaryId: string | undefined,
  hitByFault: ReadonlySet<string>,
  cli: readonly string[] = ['uv', 'run', 'prefect'],
): Check {
  const states = runs.map((r) => `${r.name}: ${r.state_name ?? r.state_type ?? '?'}`);
  const unfinished = runs.filter((r) => !TERMINAL.has(r.state_type ?? ''));
  // CANCEL_NEW turns excess runs away: Cancelled is how that guardrail holds, not a failure.
  // A run a fault cancelled on purpose (faults.json names it) is the fault's doing, not a failure either.
  const bad = runs.filter(
    (r) =>
      TERMINAL.has(r.state_type ?? '') &&
      r.state_type !== 'COMPLETED' &&
      !(r.state_type === 'CANCELLED' && r.id !== primaryId) &&
      !(hitByFault.has(r.id) && ENDED_BY_FAULT.has(r.state_type ?? '')),
  );
  const base = {
    id: 'runs.completed',
    step: 'run',
    title: 'rehearsal runs finished',
    expected: 'Completed',
    actual: states,
  };
  // Every run that did not complete is named, whichever verdict leads.
  const named = (list: FlowRun[]): string =>
    list.map((r) => `${r.name} ${r.state_name ?? r.state_type ?? '?'}`).join(', ');
  const cancelled = runs.filter((r) => r.state_type === 'CANCELLED');
  const byFault = runs.filter((r) => hitByFault.has(r.id) && ENDED_BY_FAULT.has(r.state_type ?? ''));
  const excused = cancelled.filter((r) => r.id !== primaryId && !hitByFault.has(r.id));
  const also =
    `${unfinished.length && bad.length ? `; not finished: ${named(unfinished)}` : ''}` +
    `${excused.length ? `; also Cancelled, as CANCEL_NEW turns excess runs away: ${named(excused)}` : ''}` +
    `${byFault.length ? `; ended by an injected fault, on purpose: ${named(byFault)}` : ''}`;
  if (bad.length > 0)
    return {
      ...base,
      verdict: 'fail',
      reason: `${bad.length} run(s) ended badly: ${named(bad)}${also}${endedBadlyFix(bad, unfinished, cli)}`,
    };
  if (unfinished.length > 0)
    return {
      ...base,
      verdict: 'inconclusive',
      reason: `${unfinished.length} run(s) had not finished: ${named(unfinished)}${also}`,
    };
  return { ...base, verdict: 'pass', reason: `${runs.length} run(s) finished: ${states.join(', ')}${also}` };
}

/** The run page once the run has ended, showing its name and final state, kept as the capture step's PNG. */
async function shootFinishedRun(
  ctx: Context,
  bundle: Bundle,
  page: RunPage | undefined,
  run: FlowRun | undefined,
): Promise<ScreenshotRecord | undefined> {
  if (!page || !run || !TERMINAL.has(run.state_type ?? '')) return undefined;
  const pending = path.join(bundle.dir, `.${SCREENSHOT_FILE}.pending`);
  const shot = await page.capture({
    outFile: pending,
    expectText: [run.name, run.state_name ?? ''],
    requireAll: true,
    timeoutMs: 30_000,
  });
  if (shot.status !== 'captured') return { status: 'missing', url: shot.url, reason: shot.reason };
  await writeStagedEvidence(bundle, SCREENSHOT_FILE, pending, ctx.now());
  return {
    status: 'captured',
    url: shot.url,
    width: shot.width,
    height: shot.height,
    ...(shot.matchedText ? { matchedText: shot.matchedText } : {}),
  };
}

/** The CLI has no --work-queue: with a queue every run is created through the API and the first is watched. */
function watchCommand(ctx: Context, plan: RunPlan, primaryId: string | undefined): Command | undefined {
  const cli = cliOf(ctx);
  const seconds = ctx.config.timeouts.watchSeconds;
  if (!plan.workQueue) return runDeploymentCommand(cli, fullName(plan.ref), plan.parameters, seconds, plan.tags);
  if (!primaryId) return undefined;
  return prefectCommand(cli, watchFlowRunArgs(primaryId, seconds), true, (seconds + 60) * 1000);
}

function runData(
  plan: RunPlan,
  ledger: RunLedger,
  watch: WatchResult | undefined,
  slotsBefore?: HeldSlots[],
): StepDataInput<'run'> {
  const primaryId = watch?.primaryId ?? (plan.workQueue ? ledger.ids[0] : undefined);
  return {
    fullName: fullName(plan.ref),
    deploymentId: plan.deployment.id,
    primaryRunId: primaryId ?? null,
    flowRunIds: [...(primaryId ? [primaryId] : []), ...ledger.ids.filter((id) => id !== primaryId)],
    burst: plan.burst,
    strictestLimit: plan.strictest ?? null,
    startedAt: plan.startedAt,
    runUrl: watch?.printedUrl ?? null,
    parameters: plan.parameters,
    workQueue: plan.workQueue ?? null,
    ...(slotsBefore ? { slotsBefore } : {}),
  };
}

interface RunPageWhenRunning {
  /** Chromium starts once the run is RUNNING: earlier it would compete for the CPU with the Python start-ups. */
  onRuns(runs: FlowRun[], primaryId: string | undefined): void;
  page(): Promise<RunPage | undefined>;
}

/** The run page opens while the run runs, so its screenshot costs no time once the run ends. */
function openRunPageOnce(ctx: Context, open: RunPageOpener, printedUrl: () => string | undefined): RunPageWhenRunning {
  let opening: Promise<RunPage | undefined> | undefined;
  const auth = { extraHeaders: envAuthHeaders(ctx.env) };
  return {
    onRuns(runs, primaryId) {
      const primary = runs.find((r) => r.id === primaryId);
      if (opening || !primary || !primaryId) return;
      if (primary.state_type !== 'RUNNING' && !TERMINAL.has(primary.state_type ?? '')) return;
      const url = runPageUrl(ctx.prefect.apiUrl, primaryId, printedUrl());
      opening = open({ url, signal: ctx.signal, ...auth });
    },
    page: async () => opening,
  };
}

/**
 * The CLI's watch failing on its own while the runs finished (its websocket refused by a proxy, say): the
 * verdict stands, since the runs were followed over REST, but the operator is told what happened.
 */
function cliWatchFailure(watch: WatchResult): string | undefined {
  const cli = watch.cli;
  if (!cli || watch.stoppedCli || cli.exitCode === 0 || cli.cancelled) return undefined;
  const last = tailOf(`${cli.stdout}\n${cli.stderr}`, 1)[0];
  const refused = /\b(401|403)\b/.exec(`${cli.stdout}\n${cli.stderr}`)?.[1];
  const why = refused
    ? `; its connection was refused with HTTP ${refused} (a proxy in front of the API that demands basic auth ` +
      'on the websocket too)'
    : '';
  return (
    `the Prefect CLI's watch ended with exit ${cli.exitCode ?? cli.signal ?? 'none'} before the runs did` +
    `${last ? ` (${last})` : ''}${why}: rehearse followed the runs over the REST API to the end, so this does not ` +
    'change the verdict'
  );
}

/** The log, the notes and the verdict once every run of the rehearsal is final. */
/** The run log: the CLI's output, with what it could not say (the watched run, the burst, why it stopped). */
function runLogText(plan: RunPlan, watch: WatchResult, cliFailed: string | undefined): string {
  const { runs, primaryId } = watch;
  const others = runs.filter((r) => r.id !== primaryId);
  const primary = runs.find((r) => r.id === primaryId);
  // With a work queue the CLI never printed the run it watches: say which, as `deployment run` would.
  const header =
    plan.workQueue && primary
      ? `# Created through the API on work queue ${plan.workQueue} (the CLI has no --work-queue), ` +
        'watched with prefect flow-run watch\n' +
        `└── UUID: ${primary.id}\n└── Name: ${primary.name}\n└── Parameters: ${JSON.stringify(plan.parameters)}\n`
      : '';
  const otherLines = others.map((r) => `${r.id} ${r.name} ${r.state_name ?? ''}`).join('\n');
  const burstLines = others.length
    ? `\n# Other runs of this rehearsal's burst (created at the same time through the API)\n${otherLines}\n`
    : '';
  const stopped = watch.stoppedCli
    ? "\n# rehearse stopped the CLI's watch: every run of the rehearsal was final\n"
    : '';
  return `${header}${watch.cliOutput}${burstLines}${stopped}${cliFailed ? `\n# ${cliFailed}\n` : ''}`;
}

async function recordRuns(
  ctx: Context,
  bundle: Bundle,
  plan: RunPlan,
  ledger: RunLedger,
  watch: WatchResult,
  page: RunPage | undefined,
  slotsBefore: HeldSlots[],
  faults: RunFaults | undefined,
) {
  const { logFile, since, until } = ctx.config.run;
  const { runs, primaryId } = watch;
  const screenshot = await shootFinishedRun(
    ctx,
    bundle,
    page,
    runs.find((r) => r.id === primaryId),
  );
  const cliFailed = cliWatchFailure(watch);
  if (cliFailed) ctx.reporter.emit({ type: 'warn', message: cliFailed });
  const files = [
    await writeEvidence(bundle, logFile, runLogText(plan, watch, cliFailed), ctx.now()),
    CREATED_RUNS_FILE,
  ];
  if (screenshot?.status === 'captured') files.push(SCREENSHOT_FILE);
  const rows = runs.map((r) => [
    r.id === primaryId ? `${r.name} (watched)` : r.name,
    r.id,
    r.state_name,
    r.start_time,
    r.end_time,
  ]);
  const text =
    `Window ${since}..${until}, burst ${plan.burst}${plan.workQueue ? `, work queue ${plan.workQueue}` : ''}.\n\n` +
    table(['run', 'id', 'final state', 'start', 'end'], rows) +
    (cliFailed ? `\n\n${cliFailed}.\n` : '');
  files.push(await updateNotes(bundle, 'run', 'Run: rehearsal runs', text, ctx.now()));
  const data = {
    ...runData(plan, ledger, watch, slotsBefore),
    endedAt: ctx.now().toISOString(),
    ...(screenshot ? { screenshot } : {}),
  };
  const injected = await faults?.record(bundle, runs, primaryId);
  const checks = [
    runsCheck(runs, primaryId, faults?.hit() ?? new Set(), ctx.config.prefect.command),
    ...(injected?.checks ?? []),
  ];
  return { checks, files: [...new Set([...files, ...(injected?.files ?? [])])], data };
}

/** A failed or interrupted fault rehearsal: what the rollback restored joins faults.json and the error's files. */
async function rollBackFaults(faults: RunFaults, bundle: Bundle, runs: FlowRun[], failure: unknown): Promise<void> {
  const data = failure instanceof RehearseError ? failure.data : undefined;
  const cancelled = Array.isArray(data?.cancelled) ? (data.cancelled as CancelledRun[]) : [];
  const files = await faults.rollBack(bundle, runs, cancelled);
  if (Array.isArray(data?.files)) (data.files as string[]).push(...files);
}

/** Runbook step 3: a bounded backfill, watched to the end; --burst N submits N runs at once. */
export function runStep(options: RunStepOptions): Step {
  return {
    name: 'run',
    title: 'trigger and watch the rehearsal run',
    // Nothing is created in a dry run, so nothing can be watched: the creations and the CLI are only planned.
    async dryRun(ctx, bundle) {
      const plan = await planRun(ctx, bundle, options.defaultBurst);
      const ledger = plannedLedger();
      await createBurst(ctx, plan, ledger);
      const command = watchCommand(ctx, plan, undefined);
      if (command) await ctx.runner.run(command);
      return { checks: [], files: [], data: runData(plan, ledger, undefined) };
    },
    async run(ctx, bundle) {
      const plan = await planRun(ctx, bundle, options.defaultBurst);
      const claim = await claimFor(ctx, bundle, plan);
      try {
        return await runClaimed(ctx, bundle, plan, options, claim);
      } finally {
        await claim?.release();
      }
    },
  };
}

/**
 * The deployment is claimed on the server before any run is made and given back once every run is final
 * (or ended by the failure path), so a second rehearsal can neither start beside this one nor be counted in it.
 */
async function claimFor(ctx: Context, bundle: Bundle, plan: RunPlan): Promise<DeploymentClaim | undefined> {
  const claim = await claimDeployment(ctx.api, {
    deploymentId: plan.deployment.id,
    deploymentName: fullName(plan.ref),
    bundle: bundle.name,
    now: () => ctx.clock.now(),
    signal: ctx.signal,
  });
  if (!claim)
    ctx.reporter.emit({
      type: 'warn',
      message:
        'this server keeps no variables, so the deployment cannot be claimed: start no other rehearsal of it now',
    });
  return claim;
}

async function runClaimed(
  ctx: Context,
  bundle: Bundle,
  plan: RunPlan,
  options: RunStepOptions,
  claim: DeploymentClaim | undefined,
) {
  // What the limits held before the burst: validate's slots.released holds them to it once the runs settle.
  const slotsBefore = await readHeldSlots(ctx.api, slotLimitNames(plan.deployment, [runKeyOf(plan)]));
  const ledger = await openRunLedger(bundle, plan, ctx.now());
  let watch: WatchResult | undefined;
  let printedUrl: string | undefined;
  const pages = openRunPageOnce(ctx, options.openPage ?? openWithChromium, () => printedUrl);
  const faults = await runFaults(ctx, plan);
  try {
    const burst = burstMaker(
      ctx,
      plan,
      ledger,
      ctx.config.faults.some((fault) => stopsServer(fault.kind)),
    );
    const created = await burst.first();
    if (ctx.signal.aborted)
      throw new RehearseError('INTERRUPTED', 'interrupted while the rehearsal runs were being created');
    const primaryId = plan.workQueue ? created[0]?.id : undefined;
    const deadline = ctx.clock.now() + ctx.config.timeouts.watchSeconds * 1000;
    watch = await watchRuns(ctx, {
      plan,
      ledger,
      command: watchCommand(ctx, plan, primaryId),
      primaryId,
      deadline,
      ...(faults ? { apiExcused: () => faults.serverDown() } : {}),
      holdOpen: burst.pending,
      onRuns: (runs, id, url) => {
        burst.onPrimary(id);
        printedUrl = url;
        pages.onRuns(runs, id);
        faults?.onRuns(runs, id);
        claim?.renew();
      },
    });
    await burst.settled();
    if (watch.end !== 'all-final') throw watchFailure(ctx, watch);
    return await recordRuns(ctx, bundle, plan, ledger, watch, await pages.page(), slotsBefore, faults);
  } catch (caught) {
    const failure = await settleFailure(
      ctx,
      bundle,
      { plan, ledger, cliOutput: watch?.cliOutput ?? '', data: runData(plan, ledger, watch, slotsBefore) },
      caught,
    );
    if (faults) await rollBackFaults(faults, bundle, watch?.runs ?? [], failure);
    throw failure;
  } finally {
    await (await pages.page())?.close();
  }
}
