import path from 'node:path';
import fs from 'fs-extra';
import type { Context } from '../context.js';
import { RehearseError } from '../errors.js';
import { loadExpectedGuardrails } from '../guardrails/manifest.js';
import type { Check } from '../guardrails/verdict.js';
import { isPrefectCloud } from '../prefect/api.js';
import { prefectVersionCommand } from '../prefect/commands.js';
import { checkHealth, fullName, listWorkers, readDeployment, readGlobalLimit, readServerVersion, readWorkPool, resolveDeploymentName } from '../prefect/queries.js';
import { cliOf } from './prefect-cli.js';
import { filterFlowRuns } from '../prefect/runs.js';
import type { ProcessResult } from '../process/command.js';
import type { Step } from './step.js';

/** A check of the environment; a blocking failure means the rehearsal cannot run at all. */
export type DoctorCheck = Check & { blocking: boolean };

const ok = (id: string, title: string, reason: string): DoctorCheck => ({ id, step: 'preflight', title, verdict: 'pass', reason, blocking: false });
const bad = (id: string, title: string, reason: string, fix: string, blocking = true): DoctorCheck => ({ id, step: 'preflight', title, verdict: 'fail', reason: `${reason}; fix: ${fix}`, blocking });
/** The last line of output: where version strings and error summaries land. */
const lastLine = (text: string): string => text.trim().split('\n').at(-1) ?? '';

/** A worker is live when it has sent a heartbeat within three of its own intervals. */
export function isLive(worker: { last_heartbeat_time?: string | null; heartbeat_interval_seconds?: unknown; status?: string | null }, now: Date): boolean {
  if (!worker.last_heartbeat_time) return false;
  const interval = typeof worker.heartbeat_interval_seconds === 'number' ? worker.heartbeat_interval_seconds : 30;
  return now.getTime() - Date.parse(worker.last_heartbeat_time) <= interval * 3 * 1000 && worker.status !== 'OFFLINE';
}

/**
 * prefect's version without starting Python when the CLI runs through uv (`uv pip show` reads the
 * project's environment in a fraction of a second); Python only if that cannot answer.
 */
async function readPrefectVersion(ctx: Context): Promise<ProcessResult> {
  const prefect = prefectVersionCommand(cliOf(ctx));
  const viaUv = ctx.config.prefect.command.join(' ') === 'uv run prefect';
  if (viaUv) {
    const shown = await ctx.runner.run({ ...prefect, args: ['pip', 'show', 'prefect'] });
    const version = /^Version: (\S+)$/m.exec(shown.stdout)?.[1];
    if (shown.exitCode === 0 && version) return { ...shown, stdout: version };
  }
  return ctx.runner.run(prefect);
}

async function checkTools(ctx: Context): Promise<DoctorCheck[]> {
  const prefect = prefectVersionCommand(cliOf(ctx));
  const [uv, version] = await Promise.all([
    ctx.runner.run({ file: prefect.file, args: ['--version'], readOnly: true, timeoutMs: 30_000 }),
    readPrefectVersion(ctx),
  ]);
  const tool = prefect.file;
  return [
    uv.exitCode === 0
      ? ok('tools.uv', `${tool} present`, lastLine(uv.stdout))
      : bad('tools.uv', `${tool} present`, `${tool} ${uv.spawnError ? 'is not installed or not on PATH' : `failed: ${lastLine(uv.stdout + uv.stderr)}`}`, tool === 'uv' ? 'python3 -m pip install uv' : 'install it, or set prefect.command in rehearse.config'),
    version.exitCode === 0
      ? ok('tools.prefect', 'prefect present', `prefect ${lastLine(version.stdout)} in ${ctx.prefect.projectDir}`)
      : bad('tools.prefect', 'prefect present', `\`${[prefect.file, ...prefect.args].join(' ')}\` failed in ${ctx.prefect.projectDir}: ${lastLine(version.stdout + version.stderr) || version.spawnError}`, 'run rehearse from the project checkout whose uv environment has prefect (uv sync), or pass --project-dir'),
  ];
}

async function checkServer(ctx: Context): Promise<DoctorCheck[]> {
  const url = ctx.prefect.apiUrl;
  const checks: DoctorCheck[] = [];
  if (isPrefectCloud(url) && !ctx.env.PREFECT_API_KEY) {
    checks.push(bad('api.key', 'API key for Prefect Cloud', `${url} is Prefect Cloud and PREFECT_API_KEY is not set`, 'export PREFECT_API_KEY=<a key with access to this workspace>'));
  }
  const health = await checkHealth(ctx.api);
  if (!health.ok) {
    checks.push(bad('api.health', 'Prefect API healthy', `${url}/health: ${health.detail}`, 'check PREFECT_API_URL and that the port-forward or server is up (rehearse sandbox up for the local one)'));
    return checks;
  }
  checks.push(ok('api.health', 'Prefect API healthy', `${url} answers, server ${(await readServerVersion(ctx.api)) ?? 'version unknown'}`));

  let deploymentPool = ctx.config.workPool;
  try {
    const ref = await resolveDeploymentName(ctx.api, ctx.config.deployment);
    const { deployment } = await readDeployment(ctx.api, ref);
    deploymentPool = deployment.work_pool_name ?? deploymentPool;
    checks.push(deployment.paused
      ? bad('deployment.exists', 'deployment exists', `${fullName(ref)} is paused`, `uv run prefect deployment resume ${fullName(ref)}`)
      : ok('deployment.exists', 'deployment exists', `${fullName(ref)} on pool ${deploymentPool}`));
    // Runs still under way hold the deployment's slots: the rehearsal's runs would queue behind them.
    const busy = await filterFlowRuns(ctx.api, { deployment_id: { any_: [deployment.id] }, state: { type: { any_: ['PENDING', 'RUNNING', 'CANCELLING'] } } }, { max: 200 });
    checks.push(busy.length
      ? bad('deployment.idle', 'no earlier run holds the deployment', `${busy.length} run(s) of ${fullName(ref)} still ${[...new Set(busy.map((r) => r.state_name))].join('/')}: ${busy.slice(0, 5).map((r) => `${r.name} (${r.id})`).join(', ')}`, `wait for them, or cancel each: uv run prefect flow-run cancel <id>`)
      : ok('deployment.idle', 'no earlier run holds the deployment', 'no run pending or running'));
  } catch (error) {
    if (!(error instanceof RehearseError)) throw error;
    checks.push(bad('deployment.exists', 'deployment exists', error.message, error.hint ?? 'deploy it first'));
  }

  const pool = await readWorkPool(ctx.api, deploymentPool);
  if (!pool) {
    checks.push(bad('work_pool.ready', 'work pool ready with a live worker', `work pool ${deploymentPool} does not exist`, `uv run prefect work-pool create ${deploymentPool} --type process`));
  } else if (pool.pool.is_paused) {
    checks.push(bad('work_pool.ready', 'work pool ready with a live worker', `work pool ${deploymentPool} is paused: runs would queue indefinitely`, `uv run prefect work-pool resume ${deploymentPool}`));
  } else {
    const workers = await listWorkers(ctx.api, deploymentPool);
    const live = workers.filter((w) => isLive(w as Parameters<typeof isLive>[0], ctx.now()));
    checks.push(live.length
      ? ok('work_pool.ready', 'work pool ready with a live worker', `${deploymentPool}: ${live.length} live worker(s)`)
      : bad('work_pool.ready', 'work pool ready with a live worker', `no live worker polls ${deploymentPool}${workers.length ? ` (${workers.length} known, none heard from lately)` : ''}: runs would queue indefinitely`, `start one: uv run prefect worker start --pool ${deploymentPool}`));
  }

  const expected = await loadExpectedGuardrails(ctx.prefect.projectDir, ctx.config.manifest).catch(() => undefined);
  const key = expected?.concurrencyKey;
  if (key) {
    const gcl = /[/%&><]/.test(key) ? undefined : await readGlobalLimit(ctx.api, key);
    // Missing or inactive, the limit is a broken guardrail (inspect fails it with the evidence), not a reason the rehearsal cannot run.
    if (!gcl) checks.push(bad('global_limit.free', 'global limit exists, active and free', `global concurrency limit ${key} does not exist`, `uv run prefect gcl create ${key} --limit ${expected?.keyLimit ?? 'N'}`, false));
    else if (!gcl.active) checks.push(bad('global_limit.free', 'global limit exists, active and free', `global concurrency limit ${key} is inactive`, `uv run prefect gcl enable ${key}`, false));
    else if (gcl.active_slots > 0) checks.push(bad('global_limit.free', 'global limit exists, active and free', `${gcl.active_slots} of ${gcl.limit} slot(s) of ${key} are held, by an earlier rehearsal or another run: the rehearsal's runs would wait`, `finish or cancel those runs, or release the slots: uv run prefect gcl update ${key} --active-slots 0`));
    else checks.push(ok('global_limit.free', 'global limit exists, active and free', `${key}: active, limit ${gcl.limit}, no slot held`));
  }
  return checks;
}

async function checkEvidenceRoot(ctx: Context): Promise<DoctorCheck> {
  const root = path.resolve(ctx.cwd, ctx.config.evidenceRoot);
  let existing = root;
  while (!(await fs.pathExists(existing)) && path.dirname(existing) !== existing) existing = path.dirname(existing);
  try {
    if (!(await fs.stat(existing)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    await fs.access(existing, fs.constants.W_OK);
    return ok('evidence_root.writable', 'evidence root writable', root);
  } catch (error) {
    return bad('evidence_root.writable', 'evidence root writable', `cannot write under ${root} (${(error as NodeJS.ErrnoException).code ?? 'error'} at ${existing})`, 'fix permissions, or choose another root with --evidence-root');
  }
}

/** The runbook's troubleshooting as checks: each failure says what to run to fix it. */
export async function runDoctor(ctx: Context): Promise<DoctorCheck[]> {
  const [tools, server, root] = await Promise.all([checkTools(ctx), checkServer(ctx), checkEvidenceRoot(ctx)]);
  return [...tools, ...server, root];
}

/** The doctor as the first step of the whole rehearsal: a failed check stops it before anything is triggered. */
export const preflightStep: Step = {
  name: 'preflight',
  title: 'doctor: tools, API, deployment, worker, global limit, evidence root',
  async run(ctx) {
    const checks = await runDoctor(ctx);
    checks.forEach((check) => ctx.reporter.emit({ type: 'check', check }));
    const failed = checks.filter((c) => c.verdict === 'fail' && c.blocking);
    checks.filter((c) => c.verdict === 'fail' && !c.blocking).forEach((c) => ctx.reporter.emit({ type: 'warn', message: `${c.title}: ${c.reason} (a guardrail failure: the rehearsal goes on to record it)` }));
    if (failed.length > 0) {
      throw new RehearseError(failed.some((c) => c.id.startsWith('tools.')) ? 'TOOL_MISSING' : 'COMMAND_FAILED', `preflight: ${failed.length} check(s) failed, so nothing was triggered`, {
        details: failed.map((c) => `${c.title}: ${c.reason}`),
        hint: 'fix the above and rerun; `rehearse doctor` runs the same checks alone',
        data: { checks },
      });
    }
    return { checks: [], files: [], data: { checks: checks.map((c) => ({ id: c.id, reason: c.reason })) } };
  },
};
