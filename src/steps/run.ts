import path from 'node:path';
import fs from 'fs-extra';
import { isValid, parseISO } from 'date-fns';
import type { Context } from '../context.js';
import { writeEvidence, type Bundle } from '../evidence/bundle.js';
import type { RunPage } from '../evidence/screenshot.js';
import { runPageUrl, SCREENSHOT_FILE, type ScreenshotRecord } from './capture.js';
import { updateNotes, table } from '../evidence/notes.js';
import { RehearseError, tailOf } from '../errors.js';
import { loadExpectedGuardrails } from '../guardrails/manifest.js';
import type { Check } from '../guardrails/verdict.js';
import { prefectCommand, runDeploymentCommand } from '../prefect/commands.js';
import { fullName, readDeployment, readGlobalLimit, readWorkPool, resolveDeploymentName } from '../prefect/queries.js';
import { cancelFlowRuns, createFlowRun, readFlowRuns, TERMINAL } from '../prefect/runs.js';
import type { Deployment, FlowRun } from '../prefect/schemas.js';
import { assertRan, cliOf } from './prefect-cli.js';
import type { Step } from './step.js';

export const RUN_ID_LINE = /^└── UUID: ([0-9a-f-]{36})$/m;
const URL_LINE = /^└── URL: (\S+)$/m;
const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });

export interface RunStepOptions {
  /** 'exceed-limit' (the whole rehearsal): one more run than the strictest limit, so the guardrail is exercised. */
  defaultBurst: 'one' | 'exceed-limit';
}

function checkWindow(since: string, until: string): void {
  for (const [flag, value] of [['--since', since], ['--until', until]] as const) {
    if (!isValid(parseISO(value))) throw new RehearseError('USAGE', `${flag} ${value} is not a date`, { hint: 'use YYYY-MM-DD, e.g. --since 2024-01-01 --until 2024-01-07' });
  }
  if (parseISO(since) > parseISO(until)) {
    throw new RehearseError('USAGE', `--since ${since} is after --until ${until}`, { hint: 'swap them: the window runs from --since to --until' });
  }
}

/** Refuse, before anything is triggered, parameters the deployment would refuse. */
export function checkParameters(deployment: Deployment, parameters: Record<string, unknown>): void {
  const accepted = Object.keys(deployment.parameter_openapi_schema?.properties ?? {});
  if (accepted.length === 0) return;
  const unknown = Object.keys(parameters).filter((key) => !accepted.includes(key));
  if (unknown.length > 0) {
    throw new RehearseError('USAGE', `deployment ${deployment.name} does not accept parameter(s) ${unknown.join(', ')}`, {
      details: [`it accepts: ${accepted.join(', ')}`],
      hint: 'fix run.parameters in rehearse.config; since/until are passed as the flow parameters "since" and "until"',
    });
  }
}

async function strictestLimit(ctx: Context, deployment: Deployment): Promise<number | undefined> {
  const expected = await loadExpectedGuardrails(ctx.prefect.projectDir, ctx.config.manifest).catch(() => undefined);
  const key = expected?.concurrencyKey;
  const [pool, gcl] = await Promise.all([
    deployment.work_pool_name ? readWorkPool(ctx.api, deployment.work_pool_name) : undefined,
    key && !/[/%&><]/.test(key) ? readGlobalLimit(ctx.api, key) : undefined,
  ]);
  const live = deployment.global_concurrency_limit;
  const limits = [
    expected?.deploymentLimit, expected?.keyLimit,
    live?.active ? live.limit : undefined, pool?.pool.concurrency_limit ?? undefined, gcl?.active ? gcl.limit : undefined,
  ].filter((n): n is number => typeof n === 'number' && n > 0);
  return limits.length ? Math.min(...limits) : undefined;
}

function runsCheck(runs: FlowRun[], primaryId: string | undefined): Check {
  const states = runs.map((r) => `${r.name}: ${r.state_name ?? r.state_type ?? '?'}`);
  const unfinished = runs.filter((r) => !TERMINAL.has(r.state_type ?? ''));
  // CANCEL_NEW turns excess runs away: Cancelled is how that guardrail holds, not a failure.
  const bad = runs.filter((r) => TERMINAL.has(r.state_type ?? '') && r.state_type !== 'COMPLETED' && !(r.state_type === 'CANCELLED' && r.id !== primaryId));
  const base = { id: 'runs.completed', step: 'run', title: 'rehearsal runs finished', expected: 'Completed', actual: states };
  if (unfinished.length > 0) return { ...base, verdict: 'inconclusive', reason: `${unfinished.length} run(s) had not finished: ${unfinished.map((r) => `${r.name} ${r.state_name}`).join(', ')}` };
  if (bad.length > 0) return { ...base, verdict: 'fail', reason: `run(s) ended badly: ${bad.map((r) => `${r.name} ${r.state_name}`).join(', ')}` };
  return { ...base, verdict: 'pass', reason: `${runs.length} run(s) finished: ${states.join(', ')}` };
}

/**
 * While the CLI watches: report what queued runs wait for, and resolve with a reason (after
 * stopping the watch) if the API stops answering three times running.
 */
async function watchApi(ctx: Context, ids: () => string[], stop: AbortController, onRuns: (runs: FlowRun[]) => void): Promise<string | undefined> {
  let failures = 0;
  let lastSeen = '';
  while (!stop.signal.aborted) {
    await sleep(2000, stop.signal);
    if (stop.signal.aborted) return undefined;
    try {
      const runs = await readFlowRuns(ctx.api, ids());
      failures = 0;
      onRuns(runs);
      const waiting = runs.filter((r) => !TERMINAL.has(r.state_type ?? '') && r.state_type !== 'RUNNING').map((r) => `${r.name} ${r.state_name}`);
      const line = waiting.length ? `waiting: ${waiting.join(', ')}${runs.some((r) => r.state_type === 'RUNNING') ? `; ${runs.filter((r) => r.state_type === 'RUNNING').length} running` : ''}` : '';
      if (line && line !== lastSeen) ctx.reporter.emit({ type: 'waiting', step: 'run', message: line });
      lastSeen = line;
    } catch (error) {
      if (!(error instanceof RehearseError) || error.code !== 'API_UNREACHABLE') throw error;
      failures += 1;
      if (failures >= 3) {
        stop.abort();
        return error.message;
      }
    }
  }
  return undefined;
}

/** The run page once the run has ended, showing its name and final state, kept as the capture step's PNG. */
async function shootFinishedRun(ctx: Context, bundle: Bundle, page: RunPage | undefined, run: FlowRun | undefined): Promise<ScreenshotRecord | undefined> {
  if (!page || !run || !TERMINAL.has(run.state_type ?? '')) return undefined;
  const pending = path.join(bundle.dir, `.${SCREENSHOT_FILE}.pending`);
  const shot = await page.capture({ outFile: pending, expectText: [run.name, run.state_name ?? ''], requireAll: true, timeoutMs: 30_000 });
  if (shot.status !== 'captured') return { status: 'missing', url: shot.url, reason: shot.reason };
  await writeEvidence(bundle, SCREENSHOT_FILE, await fs.readFile(pending), ctx.now());
  await fs.remove(pending);
  return { status: 'captured', url: shot.url, width: shot.width, height: shot.height, ...(shot.matchedText ? { matchedText: shot.matchedText } : {}) };
}

/** Runbook step 3: a bounded backfill, watched to the end; --burst N submits N runs at once. */
export function runStep(options: RunStepOptions): Step {
  return {
    name: 'run',
    title: 'trigger and watch the rehearsal run',
    async run(ctx, bundle) {
      const { since, until, workQueue, logFile } = ctx.config.run;
      checkWindow(since, until);
      const ref = await resolveDeploymentName(ctx.api, ctx.config.deployment);
      const { deployment } = await readDeployment(ctx.api, ref);
      const parameters = { ...ctx.config.run.parameters, since, until };
      checkParameters(deployment, parameters);
      const strictest = await strictestLimit(ctx, deployment);
      const burst = ctx.config.run.burst ?? (options.defaultBurst === 'exceed-limit' && strictest !== undefined ? strictest + 1 : 1);
      const tags = ['rehearse', `rehearse-${bundle.name}`];
      const watchSeconds = ctx.config.timeouts.watchSeconds;
      const startedAt = ctx.now().toISOString();
      ctx.reporter.emit({ type: 'info', message: `  burst of ${burst} run(s) (strictest limit ${strictest ?? 'none'})${workQueue ? ` on work queue ${workQueue}` : ''}, window ${since}..${until}` });

      // The CLI has no --work-queue: with a queue every run is created through the API and the first is watched.
      // The extra runs are created first (milliseconds apart), so a refused creation triggers nothing.
      const created: FlowRun[] = [];
      const extraCount = workQueue ? burst : burst - 1;
      for (let i = 0; i < extraCount; i += 1) {
        const createdRun = await createFlowRun(ctx.api, deployment.id, { parameters, tags, ...(workQueue ? { work_queue_name: workQueue } : {}) });
        if (createdRun) created.push(createdRun);
      }

      let primaryId: string | undefined = workQueue ? created[0]?.id : undefined;
      // The run page opens while the run runs, so its screenshot costs no time once the run ends.
      let runPage: Promise<RunPage | undefined> | undefined;
      const openPage = (url: string): void => {
        if (ctx.flags.dryRun || runPage) return;
        runPage = import('../evidence/screenshot.js')
          .then(({ openRunPage }) => openRunPage({ url, ...(ctx.env.PREFECT_API_KEY ? { extraHeaders: { authorization: `Bearer ${ctx.env.PREFECT_API_KEY}` } } : {}) }))
          .then((page) => ('capture' in page ? page : undefined), () => undefined);
      };
      let printedUrl: string | undefined;
      // Chromium starts once the run is RUNNING: earlier it would compete for the CPU with the
      // Python start-ups of the CLI and of the flow run itself.
      const onRuns = (runs: FlowRun[]): void => {
        const primary = runs.find((r) => r.id === primaryId);
        if (primary && primaryId && (primary.state_type === 'RUNNING' || TERMINAL.has(primary.state_type ?? ''))) openPage(runPageUrl(ctx.prefect.apiUrl, primaryId, printedUrl));
      };
      const onLine = (line: string): void => {
        const match = RUN_ID_LINE.exec(line);
        if (match?.[1] && !primaryId) primaryId = match[1];
        printedUrl ??= URL_LINE.exec(line)?.[1];
        if (/AwaitingConcurrencySlot|Late/.test(line)) ctx.reporter.emit({ type: 'waiting', step: 'run', message: `queued: ${line.trim()}` });
      };
      const cli = cliOf(ctx);
      // The CLI's watch can wait forever on a server that went away; a watchdog on the API stops it.
      const stopWatch = new AbortController();
      const watchSignal = AbortSignal.any([ctx.signal, stopWatch.signal]);
      const watch = (workQueue
        ? primaryId ? ctx.runner.run(prefectCommand(cli, ['flow-run', 'watch', primaryId, '--timeout', String(watchSeconds)], true, (watchSeconds + 60) * 1000), { onStdoutLine: onLine, signal: watchSignal }) : Promise.resolve(undefined)
        : ctx.runner.run(runDeploymentCommand(cli, fullName(ref), parameters, watchSeconds, tags), { onStdoutLine: onLine, signal: watchSignal })
      ).finally(() => stopWatch.abort());
      const lostApi = watchApi(ctx, () => [...(primaryId ? [primaryId] : []), ...created.map((r) => r.id)], stopWatch, onRuns);
      try {
        const result = await watch;
        const apiLost = await lostApi;
        const cliOutput = result ? result.stdout + result.stderr : '';
        primaryId ??= RUN_ID_LINE.exec(cliOutput)?.[1];
        const runIdsNow = (): string[] => [...(primaryId ? [primaryId] : []), ...created.map((r) => r.id).filter((id) => id !== primaryId)];
        const dataNow = () => ({ fullName: fullName(ref), deploymentId: deployment.id, primaryRunId: primaryId ?? null, flowRunIds: runIdsNow(), burst, strictestLimit: strictest ?? null, startedAt, runUrl: URL_LINE.exec(cliOutput)?.[1] ?? null, parameters, workQueue: workQueue ?? null });
        const stopOnInterrupt = async (log: string): Promise<void> => {
          if (!ctx.signal.aborted) return;
          const { runIds: known, cancelled } = ctx.flags.leaveRuns ? { runIds: runIdsNow(), cancelled: [] } : await cancelFlowRuns(ctx.api, runIdsNow(), tags[1]);
          await writeEvidence(bundle, logFile, `${log}\n# Interrupted: ${ctx.flags.leaveRuns ? 'runs left as they were (--leave-runs)' : `${cancelled.length} unfinished run(s) cancelled on the server`}\n`, ctx.now());
          throw new RehearseError('INTERRUPTED', `interrupted while watching the rehearsal runs; ${ctx.flags.leaveRuns ? 'its runs were left running' : `${cancelled.length} unfinished run(s) cancelled`}`, {
            hint: 'a run stopped while it held a slot of the global limit may keep that slot until the server reclaims its lease: `rehearse doctor` shows held slots before the next rehearsal',
            data: { ...dataNow(), flowRunIds: known, cancelled, interrupted: true, files: [logFile] },
          });
        };
        await stopOnInterrupt(cliOutput);
        if (apiLost) {
          await writeEvidence(bundle, logFile, `${cliOutput}\n# The Prefect API stopped answering during the watch: ${apiLost}\n`, ctx.now());
          throw new RehearseError('API_UNREACHABLE', `the Prefect API at ${ctx.prefect.apiUrl} stopped answering while the rehearsal ran (${apiLost})`, {
            hint: 'check the server or port-forward, then rerun; the runs already created are listed in summary.json',
            data: { ...dataNow(), files: [logFile] },
          });
        }
        if (result) assertRan(result, 'the watched rehearsal run');
        const runIds = runIdsNow();
        const data = dataNow();
        if (ctx.flags.dryRun) return { checks: [], files: [], data };
        if (!primaryId) {
          await writeEvidence(bundle, logFile, cliOutput, ctx.now());
          throw new RehearseError('COMMAND_FAILED', 'prefect deployment run created no flow run', { details: tailOf(cliOutput), hint: `see ${logFile} in the bundle`, data: { ...data, files: [logFile] } });
        }

        // The other runs of the burst: wait for them to finish too, saying what they wait for.
        const deadline = Date.parse(startedAt) + watchSeconds * 1000;
        let runs = await readFlowRuns(ctx.api, runIds);
        while (runs.some((r) => !TERMINAL.has(r.state_type ?? '')) && ctx.now().getTime() < deadline && !ctx.signal.aborted) {
          const waiting = runs.filter((r) => !TERMINAL.has(r.state_type ?? '')).map((r) => `${r.name} ${r.state_name}`);
          ctx.reporter.emit({ type: 'waiting', step: 'run', message: `waiting for ${waiting.length} of ${runs.length} run(s): ${waiting.join(', ')}` });
          await sleep(2000, ctx.signal);
          runs = await readFlowRuns(ctx.api, runIds);
        }
        await stopOnInterrupt(cliOutput);
        const endedAt = ctx.now().toISOString();
        const screenshot = await shootFinishedRun(ctx, bundle, await runPage, runs.find((r) => r.id === primaryId));
        const others = runs.filter((r) => r.id !== primaryId);
        const primary = runs.find((r) => r.id === primaryId);
        // With a work queue the CLI never printed the run it watches: say which, as `deployment run` would.
        const header = workQueue && primary
          ? `# Created through the API on work queue ${workQueue} (the CLI has no --work-queue), watched with prefect flow-run watch\n└── UUID: ${primary.id}\n└── Name: ${primary.name}\n└── Parameters: ${JSON.stringify(parameters)}\n`
          : '';
        const log = others.length
          ? `${header}${cliOutput}\n# Other runs of this rehearsal's burst (created at the same time through the API)\n${others.map((r) => `${r.id} ${r.name} ${r.state_name ?? ''}`).join('\n')}\n`
          : `${header}${cliOutput}`;
        const files = [await writeEvidence(bundle, logFile, log, ctx.now()), ...(screenshot?.status === 'captured' ? [SCREENSHOT_FILE] : [])];
        const rows = runs.map((r) => [r.id === primaryId ? `${r.name} (watched)` : r.name, r.id, r.state_name, r.start_time, r.end_time]);
        files.push(await updateNotes(bundle, 'run', 'Run: rehearsal runs', `Window ${since}..${until}, burst ${burst}${workQueue ? `, work queue ${workQueue}` : ''}.\n\n${table(['run', 'id', 'final state', 'start', 'end'], rows)}`, ctx.now()));
        const check = runsCheck(runs, primaryId);
        if (runs.some((r) => !TERMINAL.has(r.state_type ?? '')) && !ctx.signal.aborted) {
          throw new RehearseError('TIMEOUT', `rehearsal runs had not finished after ${watchSeconds} s`, {
            details: runs.filter((r) => !TERMINAL.has(r.state_type ?? '')).map((r) => `${r.name} (${r.id}): ${r.state_name}`),
            hint: 'runs that stay Scheduled mean no worker polls the pool, AwaitingConcurrencySlot a slot held elsewhere: run `rehearse doctor`; raise timeouts.watchSeconds for longer backfills',
            data: { ...data, endedAt, files },
          });
        }
        return { checks: [check], files, data: { ...data, endedAt, ...(screenshot ? { screenshot } : {}) } };
      } finally {
        await (await runPage)?.close();
      }
    },
  };
}
