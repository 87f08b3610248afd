import { createLimitFix, enableLimitFix, INVALID_LIMIT_NAME } from '../prefect/fixes.js';
import type { Deployment, GlobalConcurrencyLimit } from '../prefect/schemas.js';
import type { ExpectedGuardrails } from './manifest.js';
import { getPath } from './manifest.js';
import type { Check } from './verdict.js';

export type GlobalLimitLookup = { name: string; limit: GlobalConcurrencyLimit | undefined } | { name: undefined };

const check = (
  id: string,
  title: string,
  verdict: Check['verdict'],
  reason: string,
  expected?: unknown,
  actual?: unknown,
): Check => ({
  id,
  step: 'inspect',
  title,
  verdict,
  reason,
  ...(expected === undefined ? {} : { expected }),
  ...(actual === undefined ? {} : { actual }),
});

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function judgeDeploymentLimit(expected: ExpectedGuardrails, deployment: Deployment): Check {
  const title = 'deployment concurrency limit';
  const gcl = deployment.global_concurrency_limit;
  const actual = gcl ? (gcl.active ? gcl.limit : `${gcl.limit} (inactive)`) : null;
  if (expected.deploymentLimit === undefined) {
    return check(
      'deployment.concurrency_limit',
      title,
      'inconclusive',
      `the manifest ${expected.source} sets no concurrency_limit, so there is nothing to compare`,
      null,
      actual,
    );
  }
  if (!gcl)
    return check(
      'deployment.concurrency_limit',
      title,
      'fail',
      'the deployment has no concurrency limit: runs are not throttled',
      expected.deploymentLimit,
      null,
    );
  if (!gcl.active)
    return check(
      'deployment.concurrency_limit',
      title,
      'fail',
      `the deployment's limit (${gcl.name}) is inactive: runs are not throttled`,
      expected.deploymentLimit,
      actual,
    );
  if (gcl.limit !== expected.deploymentLimit) {
    return check(
      'deployment.concurrency_limit',
      title,
      'fail',
      `the deployment allows ${gcl.limit} concurrent runs, the manifest ${expected.deploymentLimit}`,
      expected.deploymentLimit,
      gcl.limit,
    );
  }
  return check(
    'deployment.concurrency_limit',
    title,
    'pass',
    `limit ${gcl.limit}, active`,
    expected.deploymentLimit,
    gcl.limit,
  );
}

function judgeCollisionStrategy(expected: ExpectedGuardrails, deployment: Deployment): Check {
  const actual =
    deployment.concurrency_options?.collision_strategy ?? (deployment.global_concurrency_limit ? 'ENQUEUE' : null);
  const verdict = actual === expected.collisionStrategy ? 'pass' : 'fail';
  const reason =
    verdict === 'pass'
      ? `${actual}`
      : `the deployment's collision strategy is ${actual ?? 'unset'}, the manifest's ${expected.collisionStrategy}`;
  return check(
    'deployment.collision_strategy',
    'collision strategy',
    verdict,
    reason,
    expected.collisionStrategy,
    actual,
  );
}

/** `id` names the parameter as the runbook does; `dotted` is its path in the deployment's parameters. */
function judgeParameter(
  expected: ExpectedGuardrails,
  deployment: Deployment,
  id: string,
  dotted: string,
  want: unknown,
): Check {
  const actual = getPath(deployment.parameters, dotted);
  if (want === undefined)
    return check(
      id,
      id,
      'inconclusive',
      `the manifest ${expected.source} does not set parameters.${dotted}`,
      null,
      actual ?? null,
    );
  if (sameValue(actual, want)) return check(id, id, 'pass', `${JSON.stringify(actual)}`, want, actual);
  return check(
    id,
    id,
    'fail',
    `the deployment's default is ${JSON.stringify(actual ?? null)}, the manifest's ${JSON.stringify(want)}`,
    want,
    actual ?? null,
  );
}

function judgeWorkPool(expected: ExpectedGuardrails, deployment: Deployment): Check {
  const actual = deployment.work_pool_name ?? null;
  if (!expected.workPool)
    return check('deployment.work_pool', 'work pool', 'inconclusive', 'the manifest names no work pool', null, actual);
  const verdict = actual === expected.workPool ? 'pass' : 'fail';
  return check(
    'deployment.work_pool',
    'work pool',
    verdict,
    verdict === 'pass'
      ? `${actual}`
      : `the deployment runs on ${actual ?? 'no pool'}, the manifest on ${expected.workPool}`,
    expected.workPool,
    actual,
  );
}

/**
 * The global limit the flow acquires through its concurrency_key. A missing or inactive limit
 * lets the flow run unthrottled (Prefect only logs the former, and says nothing of the latter).
 */
function judgeGlobalLimit(
  expected: ExpectedGuardrails,
  lookup: GlobalLimitLookup,
  deployment: Deployment,
  cli: readonly string[],
): Check {
  const id = 'global_limit';
  const title = 'global concurrency limit of the concurrency key';
  if (lookup.name === undefined)
    return check(
      id,
      title,
      'fail',
      'the deployment has no concurrency_key parameter: the flow acquires no global limit',
      expected.keyLimit,
      null,
    );
  const name = lookup.name;
  if (INVALID_LIMIT_NAME.test(name)) {
    return check(
      id,
      title,
      'fail',
      `'${name}' can never name a global concurrency limit (Prefect refuses / % & > < in names), so the flow skips acquisition and runs unthrottled; fix: ${createLimitFix(cli, name, expected.keyLimit, deployment)}`,
      expected.keyLimit,
      null,
    );
  }
  const gcl = lookup.limit;
  if (!gcl)
    return check(
      id,
      title,
      'fail',
      `global concurrency limit '${name}' does not exist: the flow skips acquisition and runs unthrottled (create it: ${createLimitFix(cli, name, expected.keyLimit)})`,
      expected.keyLimit,
      null,
    );
  const actual = { name: gcl.name, active: gcl.active, limit: gcl.limit, active_slots: gcl.active_slots };
  if (!gcl.active)
    return check(
      id,
      title,
      'fail',
      `global concurrency limit '${name}' is inactive: the flow runs unthrottled with no warning (enable it: ${enableLimitFix(cli, name)})`,
      expected.keyLimit,
      actual,
    );
  if (expected.keyLimit !== undefined && gcl.limit !== expected.keyLimit) {
    return check(
      id,
      title,
      'fail',
      `global concurrency limit '${name}' allows ${gcl.limit} slots, the manifest's concurrency_limit parameter ${expected.keyLimit}`,
      expected.keyLimit,
      actual,
    );
  }
  return check(id, title, 'pass', `'${name}' active, limit ${gcl.limit}`, expected.keyLimit, actual);
}

/**
 * Every guardrail the deployment record and the named global limit can show; fixes are printed with `cli`
 * (the configured Prefect command), as doctor prints them.
 */
export function judgeDeployment(
  expected: ExpectedGuardrails,
  deployment: Deployment,
  lookup: GlobalLimitLookup,
  cli: readonly string[] = ['prefect'],
): Check[] {
  return [
    judgeDeploymentLimit(expected, deployment),
    judgeCollisionStrategy(expected, deployment),
    judgeWorkPool(expected, deployment),
    judgeParameter(expected, deployment, 'parameters.concurrency_key', 'concurrency_key', expected.concurrencyKey),
    judgeParameter(expected, deployment, 'parameters.concurrency_limit', 'concurrency_limit', expected.keyLimit),
    // The runbook's `parameters.pipeline.backfill`: the flow parameter named `parameters`.
    judgeParameter(
      expected,
      deployment,
      'parameters.pipeline.backfill',
      'parameters.pipeline.backfill',
      expected.backfill,
    ),
    judgeGlobalLimit(expected, lookup, deployment, cli),
  ];
}
