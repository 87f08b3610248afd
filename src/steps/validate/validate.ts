import path from 'node:path';
import fs from 'fs-extra';
import { findBaseline } from '../../bundle/baseline.js';
import { type Bundle, writeEvidence, writeEvidenceJson } from '../../bundle/bundle.js';
import { readEvidenceJson } from '../../bundle/evidence-json.js';
import { SLOT_HISTORY_FILE, WORK_POOL_FILE } from '../../bundle/files.js';
import { updateNotes } from '../../bundle/notes.js';
import { type SlotHistoryFile, StateHistoryFileSchema } from '../../bundle/state-history.js';
import type { StepDataInput } from '../../bundle/step-data.js';
import type { Summary } from '../../bundle/summary.js';
import { loadExpectedGuardrails } from '../../config/manifest-file.js';
import type { Context } from '../../context.js';
import { RehearseError } from '../../errors.js';
import { judgeDrift } from '../../guardrails/baseline.js';
import { findOccupy, measurePeak, slotHolderHistories } from '../../guardrails/concurrency.js';
import { isGlobalLimitLive } from '../../guardrails/limits.js';
import { INVALID_LIMIT_NAME } from '../../prefect/fixes.js';
import { readDeployment, readGlobalLimit, readWorkPool, resolveDeploymentName } from '../../prefect/queries.js';
import { readSlotEvents } from '../../prefect/runs.js';
import {
  collectStateHistories,
  planWithoutRuns,
  STATE_HISTORY_FILE,
  type StateHistoryFile,
  selectRuns,
} from '../capture/histories.js';
import { runStepData } from '../run/data.js';
import type { Step } from '../step.js';
import { serverRestartedAt, settleFaults } from './faults.js';
import {
  appliedLimits,
  guardrailSnapshot,
  interruptedCheck,
  judgeConcurrency,
  type Observed,
  type SlotMeasure,
} from './judge.js';
import { fileViolations, validateNotes } from './notes.js';
import { checkSlotsReleased } from './slots.js';

/** The deployment a bundle rehearsed, as its summary names it, so baselines are never another deployment's. */
const summaryDeployment = (summary: Summary, fallback: string): string =>
  typeof summary.target.deployment === 'string' ? summary.target.deployment : fallback;

export interface ValidateOptions {
  flowRunIds: string[];
  allRuns: boolean;
}

async function loadHistories(
  ctx: Context,
  bundleDir: string,
  summary: Summary,
  options: ValidateOptions,
  deploymentId: string,
): Promise<{ histories: StateHistoryFile; fresh: boolean }> {
  const file = path.join(bundleDir, STATE_HISTORY_FILE);
  if (options.flowRunIds.length === 0 && !options.allRuns && (await fs.pathExists(file))) {
    const hint =
      'rerun `rehearse capture` on this bundle, or read the histories again with --flow-run ID or --all-runs';
    return {
      histories: await readEvidenceJson(bundleDir, STATE_HISTORY_FILE, StateHistoryFileSchema, hint),
      fresh: false,
    };
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

/** The deployment, the manifest's promise, the state histories, the pool and the global limit, in that order. */
async function observe(ctx: Context, bundleDir: string, summary: Summary, options: ValidateOptions): Promise<Observed> {
  const ref = await resolveDeploymentName(ctx.api, runStepData(summary)?.fullName ?? ctx.config.deployment);
  const [{ deployment }, expected] = await Promise.all([
    readDeployment(ctx.api, ref),
    loadExpectedGuardrails(ctx.prefect.projectDir, ctx.config.manifest),
  ]);
  const { histories, fresh } = await loadHistories(ctx, bundleDir, summary, options, deployment.id);
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
  return { ref, deployment, expected, histories, fresh, poolName, pool, gcl, key };
}

/**
 * Occupied slots of the global limit, from its acquired/released events (none unless it is live). The global
 * limit bounds occupied slots, not RUNNING runs: a run may be RUNNING while it waits for a slot.
 */
async function measureSlots(ctx: Context, seen: Observed): Promise<SlotMeasure> {
  const { histories, fresh, key } = seen;
  const { asOf } = histories;
  const earliest = histories.runs.flatMap((r) => r.states.map((s) => s.timestamp)).sort()[0] ?? asOf;
  const runNames = new Map(histories.runs.map((r) => [r.runId, r.runName]));
  // Fresh histories end at the server's now; a stored bundle's window ends where its histories did.
  const events =
    isGlobalLimitLive(seen) && key
      ? await readSlotEvents(ctx.api, earliest, fresh ? {} : { until: new Date(Date.parse(asOf) + 1000).toISOString() })
      : [];
  const holders = (key ? slotHolderHistories(events, key) : []).map((h) =>
    runNames.get(h.runId) ? { ...h, runName: runNames.get(h.runId) as string } : h,
  );
  const holdersAsOf = events.reduce(
    (at, e) => (Date.parse(e.occurred) >= Date.parse(at) ? new Date(Date.parse(e.occurred) + 1).toISOString() : at),
    asOf,
  );
  const occupy = key ? findOccupy(events, key) : undefined;
  return { holders, asOf: holdersAsOf, peak: measurePeak(holders, holdersAsOf), occupy };
}

const asJson = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** work-pool.json as the server sent it, and state-history.json when the histories were read just now. */
async function writeObserved(bundle: Bundle, seen: Observed, now: Date): Promise<string[]> {
  const files = [await writeEvidence(bundle, WORK_POOL_FILE, asJson(JSON.parse(seen.pool.raw)), now)];
  if (seen.fresh) files.push(await writeEvidenceJson(bundle, STATE_HISTORY_FILE, seen.histories, now));
  return files;
}

/** slot-history.json, from which the report draws occupied slots beside RUNNING runs. */
function writeSlotHistory(bundle: Bundle, limit: string, slots: SlotMeasure, now: Date): Promise<string> {
  const file: SlotHistoryFile = { asOf: slots.asOf, limit, occupy: slots.occupy ?? null, runs: slots.holders };
  return writeEvidence(bundle, SLOT_HISTORY_FILE, asJson(file), now);
}

/** What validate reads and may write, printed instead by a dry run whose run step made no runs. */
const validatePlan = (ctx: Context): string[] => [
  `GET ${ctx.prefect.apiUrl}/work_pools/<pool> > ${WORK_POOL_FILE}`,
  `peak of RUNNING runs from ${STATE_HISTORY_FILE}; occupied slots from POST ${ctx.prefect.apiUrl}/events/filter`,
  `on a violation: append a task to ${ctx.config.ledgers.nextSteps}`,
];

/** Runbook step 5: prove from what Prefect recorded that no more runs ran at once than the guardrails allow. */
export function validateStep(options: ValidateOptions): Step {
  return {
    name: 'validate',
    title: 'measure peak concurrency and judge every limit',
    async run(ctx, bundle, summary) {
      // With --all-runs there is something to read even when the run step made nothing.
      if (!options.allRuns && planWithoutRuns(ctx, summary, options.flowRunIds, validatePlan(ctx)))
        return { checks: [], files: [] };
      const seen = await observe(ctx, bundle.dir, summary, options);
      const now = ctx.now();
      const files = await writeObserved(bundle, seen, now);
      const limits = appliedLimits(seen);
      const slots = await measureSlots(ctx, seen);
      if (isGlobalLimitLive(seen) && seen.key) files.push(await writeSlotHistory(bundle, seen.key, slots, now));
      const judged = judgeConcurrency(seen, limits, slots, ctx.config.expect?.workPoolLimit);
      const guardrails = guardrailSnapshot(seen);
      const deployment = summaryDeployment(summary, ctx.config.deployment);
      const { evidenceRoot } = ctx.config;
      const baseline = await findBaseline(path.resolve(ctx.cwd, evidenceRoot), deployment, bundle.name);
      const askedAt = ctx.clock.now();
      const before = runStepData(summary)?.slotsBefore;
      const restartedAt = await serverRestartedAt(bundle.dir);
      const released = await checkSlotsReleased(ctx, before, seen.deployment.id, judged.stuck.length, restartedAt);
      files.push(...(await settleFaults(ctx, bundle, seen.deployment, released, askedAt)));
      const checks = [
        ...judged.checks,
        ...(released ? [released] : []),
        ...judgeDrift(guardrails, baseline, ctx.config.expect),
        ...(summary.status === 'interrupted' ? [interruptedCheck()] : []),
      ];
      const failed = checks.filter((c) => c.verdict === 'fail');
      const task = await fileViolations(ctx, bundle, seen, failed);
      const notes = validateNotes({ seen, judged, slots, checks, baseline, deployment, evidenceRoot, task });
      files.push(await updateNotes(bundle, 'validate', 'Validate: measured concurrency', notes, now));
      const peak = judged.evidence.running.peak;
      return {
        checks,
        files,
        data: {
          guardrails,
          baseline: baseline?.bundle ?? null,
          peak: peak.peak,
          peakWindows: peak.windows.slice(0, 5),
          holderPeak: judged.evidence.slots.peak.peak,
          occupy: slots.occupy ?? null,
          submitted: judged.evidence.submitted,
          others: [...judged.evidence.others],
          stuck: judged.stuck.map((r) => r.runId),
          limits: Object.fromEntries(limits.map((l) => [l.id, l.limit ?? null])),
        } satisfies StepDataInput<'validate'>,
      };
    },
  };
}
