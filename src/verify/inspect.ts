import { z } from 'zod';
import { DEPLOYMENT_FILE, MANIFEST_COPY_DIR } from '../bundle/files.js';
import type { StepRecord, Summary } from '../bundle/summary.js';
import { messageOf } from '../errors.js';
import { type GlobalLimitLookup, judgeDeployment } from '../guardrails/deployment.js';
import { type ExpectedGuardrails, expectedFromManifest, parseManifestText } from '../guardrails/manifest.js';
import type { Check } from '../guardrails/verdict.js';
import { type Deployment, DeploymentSchema, GlobalConcurrencyLimitSchema } from '../prefect/schemas.js';
import { formatIssues } from '../util/zod-issues.js';
import { readBundleText } from './files.js';
import { inconsistent, type VerifyProblem } from './problem.js';

const show = (value: unknown): string => JSON.stringify(value ?? null);
const RecordedLimitSchema = GlobalConcurrencyLimitSchema.omit({ id: true });

/** Without a copy of the manifest (bundles older than it), what the recorded checks say it promised. */
function expectedFromChecks(checks: readonly Check[], source: string): ExpectedGuardrails {
  const said = (id: string): unknown => checks.find((c) => c.id === id)?.expected ?? undefined;
  const number = (value: unknown) => (typeof value === 'number' ? value : undefined);
  const strategy = said('deployment.collision_strategy');
  const key = said('parameters.concurrency_key');
  const pool = said('deployment.work_pool');
  return {
    source,
    deploymentName: '',
    workPool: typeof pool === 'string' ? pool : undefined,
    deploymentLimit: number(said('deployment.concurrency_limit')),
    collisionStrategy: strategy === 'CANCEL_NEW' ? 'CANCEL_NEW' : 'ENQUEUE',
    concurrencyKey: typeof key === 'string' ? key : undefined,
    keyLimit: number(said('parameters.concurrency_limit')),
    backfill: said('parameters.pipeline.backfill'),
    scheduleActive: undefined,
    parameters: {},
  };
}

/** The global limit as the inspect step read it from the server: the one input the bundle holds no file for. */
export function recordedLookup(
  expected: ExpectedGuardrails,
  deployment: Deployment,
  checks: readonly Check[],
): GlobalLimitLookup {
  const key = deployment.parameters.concurrency_key;
  const name = expected.concurrencyKey ?? (typeof key === 'string' ? key : undefined);
  if (name === undefined) return { name: undefined };
  const parsed = RecordedLimitSchema.safeParse(checks.find((c) => c.id === 'global_limit')?.actual);
  return { name, limit: parsed.success ? { id: '', ...parsed.data } : undefined };
}

export async function readExpected(
  dir: string,
  inspect: StepRecord,
  summary: Summary,
): Promise<{ expected?: ExpectedGuardrails; problems: VerifyProblem[] }> {
  const source = typeof summary.target.manifest === 'string' ? summary.target.manifest : 'the manifest';
  const copy = inspect.files.find((file) => file.startsWith(`${MANIFEST_COPY_DIR}/`));
  if (copy === undefined) return { expected: expectedFromChecks(inspect.checks, source), problems: [] };
  const text = await readBundleText(dir, copy);
  // Its absence is reported with the step's other files.
  if (text === undefined) return { problems: [] };
  try {
    return { expected: expectedFromManifest(await parseManifestText(text, copy), source), problems: [] };
  } catch (error) {
    return {
      problems: [
        inconsistent(
          `the inspect step judged against it, but it is not a deployment manifest: ${messageOf(error)}`,
          copy,
        ),
      ],
    };
  }
}

/** deployment.json as the inspect step wrote it, or what keeps it from being read. */
export async function readDeploymentFile(
  dir: string,
): Promise<{ deployment: Deployment } | { problem: VerifyProblem }> {
  const text = await readBundleText(dir, DEPLOYMENT_FILE);
  if (text === undefined)
    return {
      problem: inconsistent(
        'the inspect step judged it, but it is not in the bundle as a regular file',
        DEPLOYMENT_FILE,
      ),
    };
  try {
    const parsed = DeploymentSchema.safeParse(JSON.parse(text));
    if (parsed.success) return { deployment: parsed.data };
    const issues = formatIssues(parsed.error.issues).slice(0, 3).join('; ');
    return { problem: inconsistent(`not a deployment record: ${issues}`, DEPLOYMENT_FILE) };
  } catch (error) {
    const detail = (error instanceof z.ZodError ? error.issues[0]?.message : messageOf(error)) ?? '';
    return { problem: inconsistent(`not JSON: ${detail}`, DEPLOYMENT_FILE) };
  }
}

/**
 * Judges the deployment again, with the same functions the inspect step used, from deployment.json and
 * the manifest copy; every recorded inspect check must come out the same.
 */
export async function recheckInspect(dir: string, summary: Summary): Promise<VerifyProblem[]> {
  const inspect = summary.steps.find((s) => s.name === 'inspect' && s.status === 'ok');
  if (!inspect) return [];
  const read = await readDeploymentFile(dir);
  if ('problem' in read) return [read.problem];
  const { deployment } = read;
  const { expected, problems } = await readExpected(dir, inspect, summary);
  if (!expected) return problems;
  const again = judgeDeployment(expected, deployment, recordedLookup(expected, deployment, inspect.checks));
  for (const check of again) {
    const recorded = inspect.checks.find((c) => c.id === check.id);
    if (!recorded) {
      problems.push(
        inconsistent(
          `the inspect step recorded no ${check.id} check, though its evidence gives one (${check.verdict})`,
          DEPLOYMENT_FILE,
        ),
      );
      continue;
    }
    const was = `${recorded.verdict} (expected ${show(recorded.expected)}, found ${show(recorded.actual)})`;
    const is = `${check.verdict} (expected ${show(check.expected)}, found ${show(check.actual)})`;
    if (was !== is)
      problems.push(
        inconsistent(`${check.id} is recorded ${was}; judged again from the bundle it is ${is}`, DEPLOYMENT_FILE),
      );
  }
  return problems;
}
