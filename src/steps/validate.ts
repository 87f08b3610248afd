import path from 'node:path';
import fs from 'fs-extra';
import type { Context } from '../context.js';
import { RehearseError } from '../errors.js';
import { writeEvidence } from '../evidence/bundle.js';
import { SLOT_HISTORY_FILE } from '../evidence/files.js';
import { appendNextStepsTask } from '../evidence/ledgers.js';
import { NOTES_FILE, table, updateNotes } from '../evidence/notes.js';
import { findBaseline, type GuardrailSnapshot, judgeDrift } from '../guardrails/baseline.js';
import {
  type AppliedLimit,
  findOccupy,
  judgeLimit,
  judgeManifest,
  type LimitEvidence,
  measurePeak,
  slotHolderHistories,
} from '../guardrails/concurrency.js';
import { loadExpectedGuardrails } from '../guardrails/manifest.js';
import type { Check } from '../guardrails/verdict.js';
import { INVALID_LIMIT_NAME } from '../prefect/fixes.js';
import { fullName, readDeployment, readGlobalLimit, readWorkPool, resolveDeploymentName } from '../prefect/queries.js';
import { readSlotEvents, TERMINAL } from '../prefect/runs.js';
import {
  collectStateHistories,
  planWithoutRuns,
  STATE_HISTORY_FILE,
  type StateHistoryFile,
  selectRuns,
} from './histories.js';
import { runStepData } from './run-data.js';
import type { Step } from './step.js';

export const WORK_POOL_FILE = 'work-pool.json';

/** A failed check's headline: its reason up to the detail of windows. */
const headlineOf = (check: Check): string => check.reason.split(/; | \| /)[0] ?? check.reason;

/** The deployment a bundle rehearsed, as its summary names it, so baselines are never another deployment's. */
const summaryDeployment = (summary: Parameters<Step['run']>[2], fallback: string): string =>
  typeof summary.target.deployment === 'string' ? summary.target.deployment : fallback;

export interface ValidateOptions {
  flowRunIds: string[];
  allRuns: boolean;
}

async function loadHistories(
  ctx: Parameters<Step['run']>[0],
  bundleDir: string,
  summary: Parameters<Step['run']>[2],
  options: ValidateOptions,
  deploymentId: string,
): Promise<{ histories: StateHistoryFile; fresh: boolean }> {
  const file = path.join(bundleDir, STATE_HISTORY_FILE);
  if (options.flowRunIds.length === 0 && !options.allRuns && (await fs.pathExists(file))) {
    return { histories: (await fs.readJson(file)) as StateHistoryFile, fresh: false };
  }
  return {
    histories: await collectStateHistories(
      ctx,
      selectRuns(summary, options.flowRunIds, { allRuns: options.allRuns, deploymentId }),
      { allRuns: options.allRuns },
    ),
    fresh: true,
  };
}

/**
 * A pool with no limit bounds nothing, and no manifest promises one: that is no guardrail of this
 * rehearsal, so it gets no check (an inconclusive one would hold every such rehearsal at exit 4).
 * With `expect.workPoolLimit` set to a number it is judged (and `expect.work_pool_limit` fails);
 * a limit removed since the last pass shows as `baseline.work_pool_limit`.
 */
function isUnpromisedPoolLimit(limit: AppliedLimit, expected: number | null | undefined): boolean {
  return limit.id === 'concurrency.work_pool_limit' && limit.limit === undefined && expected == null;
}

/** What validate reads and may write, printed instead by a dry run whose run step made no runs. */
const validatePlan = (ctx: Context): string[] => [
  `GET ${ctx.prefect.apiUrl}/work_pools/<pool> > ${WORK_POOL_FILE}`,
  `peak of RUNNING runs from ${STATE_HISTORY_FILE}; occupied slots from POST ${ctx.prefect.apiUrl}/events/filter`,
  `on a violation: append a task to ${ctx.config.ledgers.nextSteps}`,
];

/** Runbook step 5: prove from what Prefect recorded that no more runs ran at once than the guardrails allow. */
// biome-ignore lint/complexity/noExcessiveLinesPerFunction: the step's flow reads top to bottom; it is split when its hand-off data becomes a typed schema
export function validateStep(options: ValidateOptions): Step {
  return {
    name: 'validate',
    title: 'measure peak concurrency and judge every limit',
    // biome-ignore lint/complexity/noExcessiveLinesPerFunction: see validateStep
    async run(ctx, bundle, summary) {
      // With --all-runs there is something to read even when the run step made nothing.
      if (!options.allRuns && planWithoutRuns(ctx, summary, options.flowRunIds, validatePlan(ctx)))
        return { checks: [], files: [] };
      const ref = await resolveDeploymentName(ctx.api, runStepData(summary)?.fullName ?? ctx.config.deployment);
      const [{ deployment }, expected] = await Promise.all([
        readDeployment(ctx.api, ref),
        loadExpectedGuardrails(ctx.prefect.projectDir, ctx.config.manifest),
      ]);
      const { histories, fresh } = await loadHistories(ctx, bundle.dir, summary, options, deployment.id);
      const poolName = deployment.work_pool_name ?? ctx.config.workPool;
      const key = expected.concurrencyKey;
      const [pool, gcl] = await Promise.all([
        readWorkPool(ctx.api, poolName),
        key && !INVALID_LIMIT_NAME.test(key) ? readGlobalLimit(ctx.api, key) : Promise.resolve(undefined),
      ]);
      if (!pool)
        throw new RehearseError('NOT_FOUND', `work pool ${poolName} does not exist on ${ctx.api.baseUrl}`, {
          hint: "check --work-pool, or the deployment's work pool",
        });
      const now = ctx.now();
      const files = [
        await writeEvidence(bundle, WORK_POOL_FILE, `${JSON.stringify(JSON.parse(pool.raw), null, 2)}\n`, now),
      ];
      if (fresh)
        files.push(await writeEvidence(bundle, STATE_HISTORY_FILE, `${JSON.stringify(histories, null, 2)}\n`, now));

      const asOf = histories.asOf;
      const peak = measurePeak(histories.runs, asOf);
      const submitted = histories.runs.length;
      const live = deployment.global_concurrency_limit;
      const gclLive = Boolean(gcl?.active && key);
      const globalWhy = !key
        ? 'the manifest names no concurrency key'
        : !gcl
          ? `global limit ${key} does not exist (the flow ran unthrottled)`
          : `global limit ${key} is inactive (the flow ran unthrottled)`;
      const limits: AppliedLimit[] = [
        {
          id: 'concurrency.deployment_limit',
          title: 'peak of runs RUNNING within the deployment limit',
          label: 'deployment limit',
          measure: 'running',
          limit: live?.active ? live.limit : undefined,
          why: live ? 'the deployment limit is inactive' : 'the deployment has no limit',
        },
        {
          id: 'concurrency.work_pool_limit',
          title: 'peak of runs RUNNING within the work-pool limit',
          label: 'work-pool limit',
          measure: 'running',
          limit: pool.pool.concurrency_limit ?? undefined,
          why: `work pool ${poolName} has no limit`,
        },
        {
          id: 'concurrency.global_limit',
          title: `occupied slots within global limit ${key ?? '(none)'}`,
          label: `global limit ${key ?? ''}`.trim(),
          measure: 'slots',
          limit: gclLive ? gcl?.limit : undefined,
          why: globalWhy,
        },
      ];

      // The global limit bounds occupied slots, not RUNNING runs: a run may be RUNNING while it waits for a slot.
      const earliest = histories.runs.flatMap((r) => r.states.map((s) => s.timestamp)).sort()[0] ?? asOf;
      const runNames = new Map(histories.runs.map((r) => [r.runId, r.runName]));
      // Fresh histories end at the server's now; a stored bundle's window ends where its histories did.
      const events =
        gclLive && key
          ? await readSlotEvents(
              ctx.api,
              earliest,
              fresh ? {} : { until: new Date(Date.parse(asOf) + 1000).toISOString() },
            )
          : [];
      const holders = (key ? slotHolderHistories(events, key) : []).map((h) =>
        runNames.get(h.runId) ? { ...h, runName: runNames.get(h.runId) as string } : h,
      );
      const holdersAsOf = events.reduce(
        (at, e) => (Date.parse(e.occurred) >= Date.parse(at) ? new Date(Date.parse(e.occurred) + 1).toISOString() : at),
        asOf,
      );
      const holderPeak = measurePeak(holders, holdersAsOf);
      if (gclLive && key) {
        // The report draws occupied slots beside RUNNING runs from this file alone.
        const slotHistory = { asOf: holdersAsOf, limit: key, occupy: findOccupy(events, key) ?? null, runs: holders };
        files.push(await writeEvidence(bundle, SLOT_HISTORY_FILE, `${JSON.stringify(slotHistory, null, 2)}\n`, now));
      }
      const waited = histories.runs.filter((r) => r.states.some((s) => s.name === 'AwaitingConcurrencySlot'));
      const evidence: LimitEvidence = {
        running: { histories: histories.runs, peak },
        slots: { histories: holders, peak: holderPeak },
        occupy: key ? findOccupy(events, key) : undefined,
        submitted,
        waited: waited.map((r) => r.runName ?? r.runId),
        asOf,
      };
      const checks: Check[] = [
        judgeManifest(
          { deploymentLimit: expected.deploymentLimit, keyLimit: expected.keyLimit, source: expected.source },
          evidence,
          limits,
        ),
        ...limits
          .filter((l) => !isUnpromisedPoolLimit(l, ctx.config.expect?.workPoolLimit))
          .map((l) => judgeLimit(l, evidence, limits)),
      ];

      const stuck = histories.runs.filter((r) => r.rehearsal).filter((r) => !TERMINAL.has(r.states.at(-1)?.type ?? ''));
      checks.push(
        stuck.length
          ? {
              id: 'runs.settled',
              step: 'validate',
              title: 'no rehearsal run left queued or stuck',
              verdict: 'inconclusive',
              reason: `${stuck.length} run(s) not finished: ${stuck.map((r) => `${r.runName ?? r.runId} ${r.states.at(-1)?.name ?? '?'}`).join(', ')}`,
              actual: stuck.map((r) => ({ id: r.runId, state: r.states.at(-1)?.name })),
            }
          : {
              id: 'runs.settled',
              step: 'validate',
              title: 'no rehearsal run left queued or stuck',
              verdict: 'pass',
              reason: `every rehearsal run finished${waited.length ? `; ${waited.length} waited for a slot (ENQUEUE at work)` : ''}`,
            },
      );

      const guardrails: GuardrailSnapshot = {
        deploymentLimit: live?.limit ?? null,
        collisionStrategy: deployment.concurrency_options?.collision_strategy ?? (live ? 'ENQUEUE' : null),
        workPool: poolName,
        workPoolLimit: pool.pool.concurrency_limit ?? null,
        concurrencyKey:
          typeof deployment.parameters.concurrency_key === 'string' ? deployment.parameters.concurrency_key : null,
        globalLimit: gcl?.limit ?? null,
        globalLimitActive: gcl ? gcl.active : null,
        parameters: deployment.parameters,
      };
      const baseline = await findBaseline(
        path.resolve(ctx.cwd, ctx.config.evidenceRoot),
        summaryDeployment(summary, ctx.config.deployment),
        bundle.name,
      );
      checks.push(...judgeDrift(guardrails, baseline, ctx.config.expect));

      if (summary.status === 'interrupted') {
        checks.push({
          id: 'evidence.complete',
          step: 'validate',
          title: 'the rehearsal ran to its end',
          verdict: 'inconclusive',
          reason:
            "this bundle's rehearsal was interrupted: its runs were cut short, so the evidence cannot prove the guardrail held; rerun the rehearsal",
        });
      }
      const violations = checks.filter((c) => c.verdict === 'fail');
      let task: string | undefined;
      if (violations.length && !ctx.flags.dryRun) {
        const ledger = path.resolve(ctx.cwd, ctx.config.ledgers.nextSteps);
        // Relative to the ledger, so the link resolves wherever the ledger is read from.
        const notesLink = path
          .relative(path.dirname(ledger), path.join(bundle.dir, NOTES_FILE))
          .split(path.sep)
          .join('/');
        const result = await appendNextStepsTask({
          file: ledger,
          owner: ctx.config.ledgers.owner,
          text: `Backfill guardrail violated in staging rehearsal ${bundle.name} (${fullName(ref)}): ${violations.map((v) => `${v.title} (${headlineOf(v)})`).join('; ')}; overlapping runs and times in [${bundle.name}/${NOTES_FILE}](${notesLink}). Restore the guardrails from ${expected.source} and rerun the rehearsal; the release is halted.`,
          key: `rehearse:violation:${fullName(ref)}:${violations.map((v) => v.id).join(',')}`,
        });
        task = result.added
          ? `added a task to ${ctx.config.ledgers.nextSteps}`
          : `an open task in ${ctx.config.ledgers.nextSteps} already tracks this`;
        ctx.reporter.emit({ type: 'warn', message: `release halted: ${task}` });
      }
      const peakRows = peak.windows
        .slice(0, 5)
        .map((w) => [
          w.start,
          w.end,
          w.runIds.length,
          w.runIds.map((id) => histories.runs.find((r) => r.runId === id)?.runName ?? id).join(', '),
        ]);
      files.push(
        await updateNotes(
          bundle,
          'validate',
          'Validate: measured concurrency',
          [
            `Peak of simultaneously RUNNING runs: **${peak.peak}**, over ${submitted} run(s) of ${fullName(ref)} (${histories.rehearsalRunIds.length} from this rehearsal), from state histories as of ${asOf}. Peak of occupied slots of ${key ?? 'no key'}: ${holderPeak.peak}${evidence.occupy === undefined ? '' : ` (each acquisition took ${evidence.occupy})`}.`,
            peakRows.length ? table(['from', 'to', 'running', 'runs'], peakRows) : 'No run reached RUNNING.',
            table(
              ['check', 'verdict', 'limit', 'why'],
              checks.map((c) => [c.id, c.verdict, c.expected, c.reason]),
            ),
            baseline
              ? `Guardrails compared with ${baseline.bundle}, the last passing rehearsal of ${summaryDeployment(summary, ctx.config.deployment)} under ${ctx.config.evidenceRoot}.`
              : `No earlier passing rehearsal of ${summaryDeployment(summary, ctx.config.deployment)} under ${ctx.config.evidenceRoot}: no baseline to compare with; a pass here becomes the next one's.`,
            ...(waited.length
              ? [
                  `${waited.length} run(s) waited in AwaitingConcurrencySlot: under ENQUEUE, runs queued beyond the limit are the guardrail working, not a violation.`,
                ]
              : []),
            ...(task ? [`Release halted: ${task}.`] : []),
          ].join('\n\n'),
          now,
        ),
      );
      return {
        checks,
        files,
        data: {
          guardrails,
          baseline: baseline?.bundle ?? null,
          peak: peak.peak,
          peakWindows: peak.windows.slice(0, 5),
          holderPeak: holderPeak.peak,
          occupy: evidence.occupy ?? null,
          submitted,
          stuck: stuck.map((r) => r.runId),
          limits: Object.fromEntries(limits.map((l) => [l.id, l.limit ?? null])),
        },
      };
    },
  };
}
