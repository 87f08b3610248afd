import path from 'node:path';
import fs from 'fs-extra';
import { writeEvidence } from '../evidence/bundle.js';
import { appendNextStepsTask } from '../evidence/ledgers.js';
import { table, updateNotes } from '../evidence/notes.js';
import { RehearseError } from '../errors.js';
import { judgeLimit, measurePeak, slotHolderHistories, type AppliedLimit } from '../guardrails/concurrency.js';
import { loadExpectedGuardrails } from '../guardrails/manifest.js';
import type { Check } from '../guardrails/verdict.js';
import { fullName, readDeployment, readGlobalLimit, readWorkPool, resolveDeploymentName } from '../prefect/queries.js';
import { readSlotEvents, TERMINAL } from '../prefect/runs.js';
import { collectStateHistories, planWithoutRuns, selectRuns, STATE_HISTORY_FILE, type StateHistoryFile } from './histories.js';
import { stepData, type Step } from './step.js';

export const WORK_POOL_FILE = 'work-pool.json';

/** The peak a concurrency check measured (a failed one carries its windows beside it). */
const measuredPeak = (check: Check): unknown =>
  check.actual && typeof check.actual === 'object' && 'peak' in check.actual ? (check.actual as { peak: unknown }).peak : check.actual;

export interface ValidateOptions {
  flowRunIds: string[];
  allRuns: boolean;
}

async function loadHistories(ctx: Parameters<Step['run']>[0], bundleDir: string, summary: Parameters<Step['run']>[2], options: ValidateOptions, deploymentId: string): Promise<{ histories: StateHistoryFile; fresh: boolean }> {
  const file = path.join(bundleDir, STATE_HISTORY_FILE);
  if (options.flowRunIds.length === 0 && !options.allRuns && (await fs.pathExists(file))) {
    return { histories: (await fs.readJson(file)) as StateHistoryFile, fresh: false };
  }
  return { histories: await collectStateHistories(ctx, selectRuns(summary, options.flowRunIds, { allRuns: options.allRuns, deploymentId }), { allRuns: options.allRuns }), fresh: true };
}

/** Runbook step 5: prove from what Prefect recorded that no more runs ran at once than the guardrails allow. */
export function validateStep(options: ValidateOptions): Step {
  return {
    name: 'validate',
    title: 'measure peak concurrency and judge every limit',
    async run(ctx, bundle, summary) {
      if (!options.allRuns && planWithoutRuns(ctx, summary, options.flowRunIds, [
        `GET ${ctx.prefect.apiUrl}/work_pools/<pool> > ${WORK_POOL_FILE}`,
        `peak of RUNNING runs from ${STATE_HISTORY_FILE}; slot holders from POST ${ctx.prefect.apiUrl}/events/filter`,
        `on a violation: append a task to ${ctx.config.ledgers.nextSteps}`,
      ])) return { checks: [], files: [] };
      const runData = stepData(summary, 'run') ?? {};
      const ref = await resolveDeploymentName(ctx.api, typeof runData.fullName === 'string' ? runData.fullName : ctx.config.deployment);
      const [{ deployment }, expected] = await Promise.all([
        readDeployment(ctx.api, ref),
        loadExpectedGuardrails(ctx.prefect.projectDir, ctx.config.manifest),
      ]);
      const { histories, fresh } = await loadHistories(ctx, bundle.dir, summary, options, deployment.id);
      const poolName = deployment.work_pool_name ?? ctx.config.workPool;
      const key = expected.concurrencyKey;
      const [pool, gcl] = await Promise.all([
        readWorkPool(ctx.api, poolName),
        key && !/[/%&><]/.test(key) ? readGlobalLimit(ctx.api, key) : Promise.resolve(undefined),
      ]);
      if (!pool) throw new RehearseError('NOT_FOUND', `work pool ${poolName} does not exist on ${ctx.api.baseUrl}`, { hint: 'check --work-pool, or the deployment\'s work pool' });
      const now = ctx.now();
      const files = [await writeEvidence(bundle, WORK_POOL_FILE, `${JSON.stringify(JSON.parse(pool.raw), null, 2)}\n`, now)];
      if (fresh) files.push(await writeEvidence(bundle, STATE_HISTORY_FILE, `${JSON.stringify(histories, null, 2)}\n`, now));

      const asOf = histories.asOf;
      const peak = measurePeak(histories.runs, asOf);
      const submitted = histories.runs.length;
      const live = deployment.global_concurrency_limit;
      const promise = [expected.deploymentLimit, expected.keyLimit].filter((n): n is number => n !== undefined);
      const limits: AppliedLimit[] = [
        { id: 'concurrency.manifest_limit', title: `peak concurrency within the manifest's limit`, limit: promise.length ? Math.min(...promise) : undefined, why: `${expected.source} promises no limit` },
        { id: 'concurrency.deployment_limit', title: 'peak concurrency within the deployment limit', limit: live?.active ? live.limit : undefined, why: live ? 'the deployment limit is inactive' : 'the deployment has no limit' },
        { id: 'concurrency.work_pool_limit', title: 'peak concurrency within the work-pool limit', limit: pool.pool.concurrency_limit ?? undefined, why: `work pool ${poolName} has no limit` },
      ];
      const checks: Check[] = limits.map((l) => judgeLimit(l, histories.runs, peak, submitted, asOf));

      // The global limit bounds slot holders, not RUNNING runs: a run may be RUNNING while it waits for a slot.
      const earliest = histories.runs.flatMap((r) => r.states.map((s) => s.timestamp)).sort()[0] ?? asOf;
      const runNames = new Map(histories.runs.map((r) => [r.runId, r.runName]));
      const holders = (gcl?.active && key ? slotHolderHistories(await readSlotEvents(ctx.api, earliest, new Date(Date.parse(asOf) + 1000).toISOString()), key) : [])
        .map((h) => (runNames.get(h.runId) ? { ...h, runName: runNames.get(h.runId) as string } : h));
      const globalLimit: AppliedLimit = {
        id: 'concurrency.global_limit', title: `slot holders within global limit ${key ?? '(none)'}`, limit: gcl?.active ? gcl.limit : undefined,
        why: !key ? 'the manifest names no concurrency key' : !gcl ? `global limit ${key} does not exist (the flow ran unthrottled)` : `global limit ${key} is inactive (the flow ran unthrottled)`,
      };
      const holderPeak = measurePeak(holders, asOf);
      checks.push(judgeLimit(globalLimit, holders, holderPeak, submitted, asOf, 'slot holders'));

      const stuck = histories.runs.filter((r) => r.rehearsal).filter((r) => !TERMINAL.has(r.states.at(-1)?.type ?? ''));
      const waited = histories.runs.filter((r) => r.states.some((s) => s.name === 'AwaitingConcurrencySlot'));
      checks.push(stuck.length
        ? { id: 'runs.settled', step: 'validate', title: 'no rehearsal run left queued or stuck', verdict: 'inconclusive', reason: `${stuck.length} run(s) not finished: ${stuck.map((r) => `${r.runName ?? r.runId} ${r.states.at(-1)?.name ?? '?'}`).join(', ')}`, actual: stuck.map((r) => ({ id: r.runId, state: r.states.at(-1)?.name })) }
        : { id: 'runs.settled', step: 'validate', title: 'no rehearsal run left queued or stuck', verdict: 'pass', reason: `every rehearsal run finished${waited.length ? `; ${waited.length} waited for a slot (ENQUEUE at work)` : ''}` });

      if (summary.status === 'interrupted') {
        checks.push({ id: 'evidence.complete', step: 'validate', title: 'the rehearsal ran to its end', verdict: 'inconclusive', reason: 'this bundle\'s rehearsal was interrupted: its runs were cut short, so the evidence cannot prove the guardrail held; rerun the rehearsal' });
      }
      const violations = checks.filter((c) => c.verdict === 'fail');
      let task: string | undefined;
      if (violations.length && !ctx.flags.dryRun) {
        const result = await appendNextStepsTask({
          file: path.resolve(ctx.cwd, ctx.config.ledgers.nextSteps),
          owner: ctx.config.ledgers.owner,
          text: `Backfill guardrail violated in staging rehearsal ${bundle.name} (${fullName(ref)}): ${violations.map((v) => `${v.title} (peak ${measuredPeak(v)}, limit ${String(v.expected)})`).join('; ')}; overlapping runs and times in ${bundle.name}/notes.md. Restore the guardrails from ${expected.source} and rerun the rehearsal; the release is halted.`,
          key: `rehearse:violation:${fullName(ref)}:${violations.map((v) => v.id).join(',')}`,
        });
        task = result.added ? `added a task to ${ctx.config.ledgers.nextSteps}` : `an open task in ${ctx.config.ledgers.nextSteps} already tracks this`;
        ctx.reporter.emit({ type: 'warn', message: `release halted: ${task}` });
      }
      const peakRows = peak.windows.slice(0, 5).map((w) => [w.start, w.end, w.runIds.length, w.runIds.map((id) => histories.runs.find((r) => r.runId === id)?.runName ?? id).join(', ')]);
      files.push(await updateNotes(bundle, 'validate', 'Validate: measured concurrency', [
        `Peak of simultaneously RUNNING runs: **${peak.peak}**, over ${submitted} run(s) of ${fullName(ref)} (${histories.rehearsalRunIds.length} from this rehearsal), from state histories as of ${asOf}. Peak slot holders of ${key ?? 'no key'}: ${holderPeak.peak}.`,
        peakRows.length ? table(['from', 'to', 'running', 'runs'], peakRows) : 'No run reached RUNNING.',
        table(['check', 'verdict', 'limit', 'why'], checks.map((c) => [c.id, c.verdict, c.expected, c.reason])),
        ...(waited.length ? [`${waited.length} run(s) waited in AwaitingConcurrencySlot: under ENQUEUE, runs queued beyond the limit are the guardrail working, not a violation.`] : []),
        ...(task ? [`Release halted: ${task}.`] : []),
      ].join('\n\n'), now));
      return {
        checks,
        files,
        data: { peak: peak.peak, peakWindows: peak.windows.slice(0, 5), holderPeak: holderPeak.peak, submitted, stuck: stuck.map((r) => r.runId), limits: Object.fromEntries(limits.map((l) => [l.id, l.limit ?? null])) },
      };
    },
  };
}
