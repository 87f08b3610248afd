import path from 'node:path';
import { RehearseError, tailOf } from '../errors.js';
import type { ExpectedGuardrails } from '../guardrails/manifest.js';
import { createPrefectApi, type PrefectApi } from '../prefect/api.js';
import {
  createGlobalLimitArgs,
  createWorkPoolArgs,
  setWorkPoolLimitArgs,
  startWorkerArgs,
  updateGlobalLimitArgs,
} from '../prefect/cli-args.js';
import { INSTALL_UV, INVALID_LIMIT_NAME } from '../prefect/fixes.js';
import { listWorkers, readGlobalLimit } from '../prefect/queries.js';
import type { Command, ProcessRunner } from '../process/command.js';
import { succeeded } from '../process/command.js';
import { spawnDetached } from '../process/daemon.js';
import { flowStarterEnv } from './flow-starter.js';
import { DEPLOY_FROM_CHECKOUT, type SandboxProject } from './project.js';
import { type SandboxState, sandboxProcessEnv } from './state.js';
import { type WorkerWait, type WorkerWaitOptions, waitForLiveWorkers } from './wait.js';

type ProcessEnvSource = Pick<SandboxState, 'apiUrl' | 'prefectHome' | 'projectDir' | 'projectEnv' | 'authString'>;
export const DEFAULT_POOL = 'hotpass-backfill-pool';
export function sandboxApi(state: Pick<SandboxState, 'apiUrl' | 'authString'>): PrefectApi {
  return createPrefectApi({
    apiUrl: state.apiUrl,
    ...(state.authString ? { authString: state.authString } : {}),
    timeoutMs: 5_000,
  });
}

/** `uv run ARGS` in the hosted project's directory, so its own environment (and Prefect version) runs it. */
export function projectCommand(state: ProcessEnvSource, args: string[], uv = 'uv', timeoutMs = 300_000): Command {
  return {
    file: uv,
    args: ['run', ...args],
    cwd: state.projectDir,
    env: sandboxProcessEnv(state),
    readOnly: false,
    timeoutMs,
  };
}

/**
 * The project's own deploy, in its directory. One that registers flows where they are (upstream
 * Hotpass) goes through DEPLOY_FROM_CHECKOUT, which gives its deployments a pull step into the
 * checkout, and is told the pool its deploy does not name (Prefect's default work pool setting).
 */
function projectDeployCommand(state: ProcessEnvSource, project: SandboxProject, pool: string, uv = 'uv'): Command {
  if (!project.registersFromCheckout) return projectCommand(state, project.deployArgs, uv);
  const command = projectCommand(state, ['python', DEPLOY_FROM_CHECKOUT, ...project.deployArgs], uv);
  return { ...command, env: { ...command.env, PREFECT_DEFAULT_WORK_POOL_NAME: pool } };
}

async function runOrFail(runner: ProcessRunner, command: Command, what: string): Promise<void> {
  const result = await runner.run(command);
  if (result.spawnError !== undefined) {
    throw new RehearseError('TOOL_MISSING', `uv is not installed or not on PATH (${result.spawnError})`, {
      hint: `install it with ${INSTALL_UV}, then run \`rehearse sandbox up\` again`,
    });
  }
  if (!succeeded(result)) {
    const how = `exit ${result.exitCode ?? 'none'}${result.timedOut ? ', timed out' : ''}`;
    throw new RehearseError('SANDBOX_FAILED', `sandbox: ${what} failed (${how})`, {
      details: tailOf(result.stdout + result.stderr),
      hint: 'see the output above; `rehearse sandbox down` then `rehearse sandbox up` starts afresh',
    });
  }
}

/**
 * The work pool, then the project's own deploy command as its operators run it. Only for the
 * runbook fixture does the sandbox add the pool limit and the key's global limit, and never for a
 * key Prefect cannot name: a hosted project gets exactly what its deploy creates. Safe to repeat.
 */
export async function applyGuardrails(
  state: SandboxState,
  runner: ProcessRunner,
  expected: ExpectedGuardrails,
  project: SandboxProject,
  uv = 'uv',
): Promise<void> {
  const pool = expected.workPool ?? DEFAULT_POOL;
  const run = (args: string[], what: string): Promise<void> => runOrFail(runner, projectCommand(state, args, uv), what);
  const poolSetup = (async () => {
    await run(['prefect', ...createWorkPoolArgs(pool, { overwrite: true })], `creating work pool ${pool}`);
    if (project.createsGuardrails && expected.deploymentLimit !== undefined) {
      const limit = setWorkPoolLimitArgs(pool, expected.deploymentLimit);
      await run(['prefect', ...limit], 'setting the work pool limit');
    }
    const deploy = projectDeployCommand(state, project, pool, uv);
    await runOrFail(runner, deploy, `deploying with \`uv run ${project.deployArgs.join(' ')}\``);
  })();
  const limitSetup = (async () => {
    const key = expected.concurrencyKey;
    if (!project.createsGuardrails || !key || INVALID_LIMIT_NAME.test(key)) return;
    const limit = expected.keyLimit ?? expected.deploymentLimit ?? 1;
    const existing = await readGlobalLimit(sandboxApi(state), key);
    const args = existing ? updateGlobalLimitArgs(key, limit, { enable: true }) : createGlobalLimitArgs(key, limit);
    await run(['prefect', ...args], `setting global concurrency limit ${key}`);
  })();
  await Promise.all([poolSetup, limitSetup]);
}

/** Worker `n` of `count` on the pool, as up starts it (its log and name), started again by kill-worker's restart. */
export async function startWorker(
  state: SandboxState,
  pool: string,
  worker: { n: number; count: number },
  uv = 'uv',
): Promise<NonNullable<SandboxState['workers']>[number]> {
  const { n, count } = worker;
  const log = path.join(state.stateDir, count === 1 ? 'worker.log' : `worker-${n}.log`);
  const name = count === 1 ? undefined : `rehearse-sandbox-worker-${n}`;
  const args = ['prefect', ...startWorkerArgs(pool, { type: 'process', ...(name ? { name } : {}) })];
  const command = projectCommand(state, args, uv);
  const env = { ...command.env, ...flowStarterEnv(state) };
  return { pid: await spawnDetached({ ...command, env }, log), log };
}

export async function startWorkers(
  state: SandboxState,
  pool: string,
  count: number,
  uv = 'uv',
): Promise<NonNullable<SandboxState['workers']>> {
  const started = [];
  for (let n = 1; n <= count; n += 1) started.push(await startWorker(state, pool, { n, count }, uv));
  return started;
}

/** Wait until the server has heard from the `count` workers started at `since` (see waitForLiveWorkers). */
export function waitForWorkers(
  state: SandboxState,
  pool: string,
  count: number,
  options: Omit<WorkerWaitOptions, 'count'>,
): Promise<WorkerWait> {
  return waitForLiveWorkers(() => listWorkers(sandboxApi(state), pool), { ...options, count });
}
