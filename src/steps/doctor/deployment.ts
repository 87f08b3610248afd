import type { Context } from '../../context.js';
import { refuseIfClaimed } from '../../prefect/claim.js';
import { cancelFlowRunArgs, patchDeploymentArgs } from '../../prefect/cli-args.js';
import { cleanupFix, prefectLine, unpauseFix } from '../../prefect/fixes.js';
import { type DeploymentRef, fullName } from '../../prefect/queries.js';
import { filterFlowRuns } from '../../prefect/runs.js';
import type { Deployment, FlowRun, WorkPool } from '../../prefect/schemas.js';
import { type DoctorCheck, FAILURE_KINDS, type Failure } from './kinds.js';

export const ok = (id: string, title: string, reason: string): DoctorCheck => ({
  id,
  step: 'preflight',
  title,
  verdict: 'pass',
  reason,
});

/**
 * A failed check; `fix` is what to run (or do), kept apart so a script can take it as it is. Its kind
 * comes from FAILURE_KINDS, by `failure` when the check fails in more than one way.
 */
export const bad = (id: Failure, title: string, reason: string, fix: string, failure: Failure = id): DoctorCheck => ({
  id,
  step: 'preflight',
  title,
  verdict: 'fail',
  reason: `${reason}; fix: ${fix}`,
  kind: FAILURE_KINDS[failure],
  fix,
});

/** A check that passes but deserves attention: doctor still exits 0 for it. */
export const warning = (id: string, title: string, reason: string): DoctorCheck => ({
  id,
  step: 'preflight',
  title,
  verdict: 'inconclusive',
  reason,
});

const LIVE_STATES = ['SCHEDULED', 'PENDING', 'RUNNING', 'PAUSED', 'CANCELLING'];
const HOLDING_STATES = ['PENDING', 'RUNNING', 'CANCELLING'];
const listed = (runs: readonly FlowRun[]): string =>
  `${runs
    .slice(0, 5)
    .map((r) => `${r.name} (${r.id}, ${r.state_name ?? r.state_type ?? '?'})`)
    .join(', ')}` + `${runs.length > 5 ? ` and ${runs.length - 5} more` : ''}`;

export function checkPaused(ctx: Context, ref: DeploymentRef, deployment: Deployment, pool: string): DoctorCheck {
  const title = 'deployment exists and is not paused';
  if (!deployment.paused) return ok('deployment.exists', title, `${fullName(ref)} on pool ${pool}`);
  const schedules = deployment.schedules.map((s) => ({ id: s.id, active: s.active }));
  const fix = unpauseFix(ctx.config.prefect.command, { id: deployment.id, fullName: fullName(ref), schedules });
  return {
    ...bad(
      'deployment.exists',
      title,
      `${fullName(ref)} is paused: Prefect creates no run for it (${fix.note})`,
      fix.command,
    ),
    apply: fix.steps,
  };
}

/**
 * Runs load their code from pull steps, a storage block or a path; a process worker has no image
 * to fall back on, so without any of them every run crashes before the flow starts.
 */
export function checkCodeSource(
  ctx: Context,
  ref: DeploymentRef,
  deployment: Deployment,
  pool: WorkPool | undefined,
): DoctorCheck {
  const id = 'deployment.code';
  const title = 'runs can load the flow code';
  const record = deployment as Deployment & {
    pull_steps?: unknown[] | null;
    storage_document_id?: string | null;
    path?: string | null;
    entrypoint?: string | null;
    job_variables?: Record<string, unknown> | null;
  };
  if (record.pull_steps?.length) return ok(id, title, `${record.pull_steps.length} pull step(s)`);
  if (record.storage_document_id) return ok(id, title, 'from its storage block');
  if (record.path) return ok(id, title, `from ${record.path}`);
  // A module path (no `file.py:` part) is imported from the worker's environment.
  if (record.entrypoint && !record.entrypoint.includes(':')) {
    return ok(id, title, `module ${record.entrypoint} importable`);
  }
  if (pool && pool.type !== 'process') {
    const image = record.job_variables?.image;
    return ok(id, title, `from the ${pool.type} pool's image${typeof image === 'string' ? ` ${image}` : ''}`);
  }
  const data = JSON.stringify({
    pull_steps: [{ 'prefect.deployments.steps.set_working_directory': { directory: ctx.prefect.projectDir } }],
  });
  const fix =
    `redeploy it with its code source (flow.from_source(...) or a git pull step); on a worker that sees this ` +
    `checkout: ${prefectLine(ctx.config.prefect.command, patchDeploymentArgs(deployment.id, data))}`;
  return bad(
    id,
    title,
    `${fullName(ref)} has no pull steps, no storage and no path, and ` +
      `${pool ? `pool ${pool.name} is a process pool` : 'no pool'}` +
      ' (no image): every run would crash with "Downloading flow code from storage at None"',
    fix,
  );
}

/** Earlier rehearsals' runs still live, and any other run still holding the deployment's slots. */
export async function checkLeftoverRuns(
  ctx: Context,
  ref: DeploymentRef,
  deployment: Deployment,
): Promise<DoctorCheck[]> {
  const runs = await filterFlowRuns(
    ctx.api,
    {
      deployment_id: { any_: [deployment.id] },
      state: { type: { any_: LIVE_STATES } },
    },
    { max: 200 },
  );
  const rehearsals = runs.filter((r) => r.tags.some((t) => t === 'rehearse' || t.startsWith('rehearse-')));
  // Live runs of a rehearsal that holds the deployment now are not leftovers: the deployment is busy, and
  // cleaning them up would end another operator's rehearsal.
  if (rehearsals.length > 0)
    await refuseIfClaimed(ctx.api, { id: deployment.id, name: fullName(ref) }, ctx.clock.now(), ctx.signal);
  // Someone else's scheduled or paused run holds no slot; a rehearsal's is still ours to clean up.
  const others = runs.filter((r) => !rehearsals.includes(r) && HOLDING_STATES.includes(r.state_type ?? ''));
  const bundles = [...new Set(rehearsals.flatMap((r) => r.tags.filter((t) => t.startsWith('rehearse-'))))];
  return [
    rehearsals.length
      ? bad(
          'deployment.rehearsals',
          'no earlier rehearsal still live',
          `${rehearsals.length} run(s) of earlier rehearsal(s) (${bundles.join(', ') || 'tag rehearse'}) are still ` +
            'live on ' +
            `${fullName(ref)}: ${listed(rehearsals)}; they hold or queue for its slots`,
          `${cleanupFix(ctx.prefect.sandbox)} (force-cancels leftover rehearsal runs and frees the slots they hold)`,
        )
      : ok('deployment.rehearsals', 'no earlier rehearsal still live', 'no run tagged rehearse is live'),
    others.length
      ? bad(
          'deployment.idle',
          'no earlier run holds the deployment',
          `${others.length} run(s) of ${fullName(ref)} still ${[...new Set(others.map((r) => r.state_name))].join('/')}: ` +
            `${listed(others)}`,
          `wait for them, or cancel them: ${others
            .slice(0, 5)
            .map((r) => prefectLine(ctx.config.prefect.command, cancelFlowRunArgs(r.id)))
            .join(' && ')}`,
        )
      : ok('deployment.idle', 'no earlier run holds the deployment', 'no other run pending or running'),
  ];
}
