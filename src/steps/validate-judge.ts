/** The validate step's judgement, pure: over what it read from the server and the bundle. */
import type { GuardrailSnapshot } from '../guardrails/baseline.js';
import {
  type AppliedLimit,
  judgeLimit,
  judgeManifest,
  type LimitEvidence,
  measurePeak,
} from '../guardrails/concurrency.js';
import type { ExpectedGuardrails } from '../guardrails/manifest.js';
import { countedRuns, rehearsalWindow } from '../guardrails/own-runs.js';
import type { PeakResult, RunHistory } from '../guardrails/peak.js';
import type { Check } from '../guardrails/verdict.js';
import type { DeploymentRef } from '../prefect/queries.js';
import { TERMINAL } from '../prefect/runs.js';
import type { Deployment, GlobalConcurrencyLimit, WorkPool } from '../prefect/schemas.js';
import type { StateHistoryFile } from './histories.js';

/** What validate read: the deployment and its limits on the server, the manifest's promise, the state histories. */
export interface Observed {
  ref: DeploymentRef;
  deployment: Deployment;
  expected: ExpectedGuardrails;
  histories: StateHistoryFile;
  /** Read from the server just now (then written to the bundle), not from the bundle's state-history.json. */
  fresh: boolean;
  poolName: string;
  pool: { pool: WorkPool; raw: string };
  gcl: GlobalConcurrencyLimit | undefined;
  /** The manifest's concurrency key: the name of the global limit the flow takes slots of. */
  key: string | undefined;
}

/** Occupied slots of the global limit: one pseudo-run per holder, RUNNING while it held a slot. */
export interface SlotMeasure {
  holders: RunHistory[];
  asOf: string;
  peak: PeakResult;
  /** The most slots one acquisition took; undefined when no acquisition was seen. */
  occupy: number | undefined;
}

type HistoryRun = StateHistoryFile['runs'][number];

/** The global limit throttles the flow only when the manifest names it and it exists and is active. */
export const isGlobalLimitLive = (seen: Observed): boolean => Boolean(seen.gcl?.active && seen.key);

/** The deployment, work-pool and global limits as the server applies them; undefined where nothing enforces one. */
export function appliedLimits(seen: Observed): AppliedLimit[] {
  const { deployment, pool, poolName, gcl, key } = seen;
  const live = deployment.global_concurrency_limit;
  const globalWhy = !key
    ? 'the manifest names no concurrency key'
    : !gcl
      ? `global limit ${key} does not exist (the flow ran unthrottled)`
      : `global limit ${key} is inactive (the flow ran unthrottled)`;
  return [
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
      limit: isGlobalLimitLive(seen) ? gcl?.limit : undefined,
      why: globalWhy,
    },
  ];
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

/** runs.settled: every rehearsal run reached a final state, so the histories hold all it did. */
function settledCheck(stuck: readonly HistoryRun[], waited: readonly HistoryRun[]): Check {
  const base = { id: 'runs.settled', step: 'validate', title: 'no rehearsal run left queued or stuck' };
  const named = stuck.map((r) => `${r.runName ?? r.runId} ${r.states.at(-1)?.name ?? '?'}`).join(', ');
  if (stuck.length)
    return {
      ...base,
      verdict: 'inconclusive',
      reason: `${stuck.length} run(s) not finished: ${named}`,
      actual: stuck.map((r) => ({ id: r.runId, state: r.states.at(-1)?.name })),
    };
  return {
    ...base,
    verdict: 'pass',
    reason: `every rehearsal run finished${waited.length ? `; ${waited.length} waited for a slot (ENQUEUE at work)` : ''}`,
  };
}

export interface ConcurrencyJudgement {
  checks: Check[];
  evidence: LimitEvidence;
  /** Runs that waited in AwaitingConcurrencySlot: under ENQUEUE, the guardrail working. */
  waited: HistoryRun[];
  /** Rehearsal runs not yet final. */
  stuck: HistoryRun[];
}

/** The manifest's promise, each applied limit, and whether the rehearsal's runs settled, over both measures. */
export function judgeConcurrency(
  seen: Observed,
  limits: AppliedLimit[],
  slots: SlotMeasure,
  expectedPoolLimit: number | null | undefined,
): ConcurrencyJudgement {
  const { histories, expected } = seen;
  // Checks rest on the rehearsal's own runs; with none marked (validate --all-runs) every run is its own.
  const marked = histories.runs.some((r) => r.rehearsal);
  const own = marked ? histories.runs.filter((r) => r.rehearsal) : histories.runs;
  const ownIds = new Set(own.map((r) => r.runId));
  const window = rehearsalWindow(histories.runs, histories.asOf);
  const running = countedRuns(histories.runs, ownIds, window, histories.asOf);
  const held = countedRuns(slots.holders, ownIds, window, slots.asOf);
  const waited = own.filter((r) => r.states.some((s) => s.name === 'AwaitingConcurrencySlot'));
  const evidence: LimitEvidence = {
    running: { histories: running.counted, peak: measurePeak(running.counted, histories.asOf) },
    slots: { histories: held.counted, peak: measurePeak(held.counted, slots.asOf) },
    occupy: slots.occupy,
    submitted: own.length,
    others: running.others,
    waited: waited.map((r) => r.runName ?? r.runId),
    asOf: histories.asOf,
  };
  const stuck = histories.runs.filter((r) => r.rehearsal).filter((r) => !TERMINAL.has(r.states.at(-1)?.type ?? ''));
  const checks: Check[] = [
    judgeManifest(
      { deploymentLimit: expected.deploymentLimit, keyLimit: expected.keyLimit, source: expected.source },
      evidence,
      limits,
    ),
    ...limits.filter((l) => !isUnpromisedPoolLimit(l, expectedPoolLimit)).map((l) => judgeLimit(l, evidence, limits)),
    settledCheck(stuck, waited),
  ];
  return { checks, evidence, waited, stuck };
}

/** Every guardrail value the server has now, kept in the step's data as the next rehearsal's baseline. */
export function guardrailSnapshot(seen: Observed): GuardrailSnapshot {
  const { deployment, poolName, pool, gcl } = seen;
  const live = deployment.global_concurrency_limit;
  return {
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
}

/** A rehearsal cut short cannot prove its guardrail held, whatever its peaks say. */
export const interruptedCheck = (): Check => ({
  id: 'evidence.complete',
  step: 'validate',
  title: 'the rehearsal ran to its end',
  verdict: 'inconclusive',
  reason:
    "this bundle's rehearsal was interrupted: its runs were cut short, " +
    'so the evidence cannot prove the guardrail held; rerun the rehearsal',
});
