// One function each: the package's index loads all of date-fns (~200 ms on every start-up).
import { isValid } from 'date-fns/isValid';
import { parseISO } from 'date-fns/parseISO';
import type { Bundle } from '../../bundle/bundle.js';
import { loadExpectedGuardrails } from '../../config/manifest-file.js';
import type { Context } from '../../context.js';
import { RehearseError } from '../../errors.js';
import { INVALID_LIMIT_NAME } from '../../prefect/fixes.js';
import { parameterNames } from '../../prefect/parameter-schema.js';
import { buildWindowParameters } from '../../prefect/parameters.js';
import { readDeployment, readGlobalLimit, readWorkPool, resolveDeploymentName } from '../../prefect/queries.js';
import type { Deployment } from '../../prefect/schemas.js';
import { checkBurst, type RunPlan } from './burst.js';

/** What the run step settles before it creates anything: refusals here leave no trace anywhere. */

function checkWindow(since: string, until: string): void {
  for (const [flag, value] of [
    ['--since', since],
    ['--until', until],
  ] as const) {
    if (!isValid(parseISO(value)))
      throw new RehearseError('USAGE', `${flag} ${value} is not a date`, {
        hint: 'use YYYY-MM-DD, e.g. --since 2024-01-01 --until 2024-01-07',
      });
  }
  if (parseISO(since) > parseISO(until)) {
    throw new RehearseError('USAGE', `--since ${since} is after --until ${until}`, {
      hint: 'swap them: the window runs from --since to --until',
    });
  }
}

/** Refuse, before anything is triggered, parameters the deployment would refuse. */
export function checkParameters(deployment: Deployment, parameters: Record<string, unknown>): void {
  const accepted = parameterNames(deployment.parameter_openapi_schema?.properties ?? {});
  if (accepted.length === 0) return;
  const unknown = Object.keys(parameters).filter((key) => !accepted.includes(key));
  if (unknown.length > 0) {
    throw new RehearseError(
      'USAGE',
      `deployment ${deployment.name} does not accept parameter(s) ${unknown.join(', ')}`,
      {
        details: [`it accepts: ${accepted.join(', ')}`],
        hint: 'fix run.parameters in rehearse.config; since/until are passed as the flow parameters "since" and "until"',
      },
    );
  }
}

async function strictestLimit(ctx: Context, deployment: Deployment): Promise<number | undefined> {
  const expected = await loadExpectedGuardrails(ctx.prefect.projectDir, ctx.config.manifest).catch(() => undefined);
  const key = expected?.concurrencyKey;
  const [pool, gcl] = await Promise.all([
    deployment.work_pool_name ? readWorkPool(ctx.api, deployment.work_pool_name) : undefined,
    key && !INVALID_LIMIT_NAME.test(key) ? readGlobalLimit(ctx.api, key) : undefined,
  ]);
  const live = deployment.global_concurrency_limit;
  const limits = [
    expected?.deploymentLimit,
    expected?.keyLimit,
    live?.active ? live.limit : undefined,
    pool?.pool.concurrency_limit ?? undefined,
    gcl?.active ? gcl.limit : undefined,
  ].filter((n): n is number => typeof n === 'number' && n > 0);
  return limits.length ? Math.min(...limits) : undefined;
}

/** Everything settled before a run is created: bad input here leaves no trace on the server or in the bundle. */
export async function planRun(ctx: Context, bundle: Bundle, defaultBurst: 'one' | 'exceed-limit'): Promise<RunPlan> {
  const { since, until, workQueue } = ctx.config.run;
  checkWindow(since, until);
  const ref = await resolveDeploymentName(ctx.api, ctx.config.deployment);
  const { deployment } = await readDeployment(ctx.api, ref);
  const { parameters, notes: windowNotes } = buildWindowParameters({
    deploymentName: deployment.name,
    parameterSchema: deployment.parameter_openapi_schema,
    deploymentParameters: deployment.parameters,
    since,
    until,
    window: ctx.config.run.window,
    extra: ctx.config.run.parameters,
    drop: ctx.config.run.drop,
  });
  for (const note of windowNotes) ctx.reporter.emit({ type: 'info', message: `  ${note}` });
  const strictest = await strictestLimit(ctx, deployment);
  const burst =
    ctx.config.run.burst ?? (defaultBurst === 'exceed-limit' && strictest !== undefined ? strictest + 1 : 1);
  checkBurst(burst, ctx.config.run.maxBurst);
  const started = ctx.now();
  const queue = workQueue ? ` on work queue ${workQueue}` : '';
  const limit = `strictest limit ${strictest ?? 'none'}`;
  ctx.reporter.emit({
    type: 'info',
    message: `  burst of ${burst} run(s) (${limit})${queue}, window ${since}..${until}`,
  });
  const tag = `rehearse-${bundle.name}`;
  return {
    ref,
    deployment,
    parameters,
    burst,
    strictest,
    tags: ['rehearse', tag],
    tag,
    workQueue,
    startedAt: started.toISOString(),
    keyPrefix: `${tag}-${started.getTime().toString(36)}`,
  };
}
