/**
 * Which limits apply to a rehearsal's runs and the checks validate makes of them, pure: the validate step
 * judges with these over what it read from the server, `verify` over the same values read from the bundle.
 */
import { type Deployment, TERMINAL } from '../prefect/schemas.js';
import { type AppliedLimit, judgeLimit, judgeManifest, type LimitEvidence } from './concurrency.js';
import type { ExpectedGuardrails } from './manifest.js';
import type { RunHistory } from './peak.js';
import type { Check } from './verdict.js';

/** The guardrail values validate reads: the deployment, its pool's limit, the manifest's key and its global limit. */
export interface LimitInputs {
  deployment: Pick<Deployment, 'global_concurrency_limit'>;
  poolName: string;
  poolLimit: number | null | undefined;
  gcl: { active: boolean; limit: number } | undefined;
  /** The manifest's concurrency key: the name of the global limit the flow takes slots of. */
  key: string | undefined;
}

/** The global limit throttles the flow only when the manifest names it and it exists and is active. */
export const isGlobalLimitLive = (inputs: Pick<LimitInputs, 'gcl' | 'key'>): boolean =>
  Boolean(inputs.gcl?.active && inputs.key);

/** The deployment, work-pool and global limits as the server applies them; undefined where nothing enforces one. */
export function appliedLimits(inputs: LimitInputs): AppliedLimit[] {
  const { deployment, poolLimit, poolName, gcl, key } = inputs;
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
      limit: poolLimit ?? undefined,
      why: `work pool ${poolName} has no limit`,
    },
    {
      id: 'concurrency.global_limit',
      title: `occupied slots within global limit ${key ?? '(none)'}`,
      label: `global limit ${key ?? ''}`.trim(),
      measure: 'slots',
      limit: isGlobalLimitLive(inputs) ? gcl?.limit : undefined,
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
function isUnpromisedPoolLimit(limit: AppliedLimit, poolLimitPromised: boolean): boolean {
  return limit.id === 'concurrency.work_pool_limit' && limit.limit === undefined && !poolLimitPromised;
}

/** A run as state-history.json holds it: marked whether the rehearsal made it. */
export type SettledRun = RunHistory & { rehearsal?: boolean };

/** Rehearsal runs whose last state is not final. */
export const isStuck = (run: SettledRun): boolean =>
  Boolean(run.rehearsal) && !TERMINAL.has(run.states.at(-1)?.type ?? '');

/** runs.settled: every rehearsal run reached a final state, so the histories hold all it did. */
function settledCheck(stuck: readonly SettledRun[], waited: number): Check {
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
    reason: `every rehearsal run finished${waited ? `; ${waited} waited for a slot (ENQUEUE at work)` : ''}`,
  };
}

/** The manifest's promise, each applied limit, and whether the rehearsal's runs settled, over both measures. */
export function judgeConcurrencyChecks(
  expected: Pick<ExpectedGuardrails, 'deploymentLimit' | 'keyLimit' | 'source'>,
  evidence: LimitEvidence,
  limits: readonly AppliedLimit[],
  settled: { stuck: readonly SettledRun[]; poolLimitPromised: boolean },
): Check[] {
  return [
    judgeManifest(
      { deploymentLimit: expected.deploymentLimit, keyLimit: expected.keyLimit, source: expected.source },
      evidence,
      limits,
    ),
    ...limits
      .filter((l) => !isUnpromisedPoolLimit(l, settled.poolLimitPromised))
      .map((l) => judgeLimit(l, evidence, limits)),
    settledCheck(settled.stuck, evidence.waited.length),
  ];
}
