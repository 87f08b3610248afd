import { randomBytes } from 'node:crypto';
import path from 'node:path';
import fs from 'fs-extra';
import { loadExpectedGuardrails } from '../config/manifest-file.js';
import { RehearseError, tailOf } from '../errors.js';
import type { ExpectedGuardrails } from '../guardrails/manifest.js';
import { startServerArgs } from '../prefect/cli-args.js';
import { toolVersionCommand } from '../prefect/commands.js';
import { INSTALL_UV } from '../prefect/fixes.js';
import { checkHealth, readServerVersion } from '../prefect/queries.js';
import type { ProcessRunner } from '../process/command.js';
import { isAlive, processesWithEnv, spawnDetached, stopGroup } from '../process/daemon.js';
import { createProcessRunner } from '../process/runner.js';
import type { Clock } from '../util/clock.js';
import { flowStarterArgs, startFlowStarter } from './flow-starter.js';
import { freePort, portIsFree } from './ports.js';
import { connectionUrl, removePostgres, startPostgres, stopPostgres } from './postgres.js';
import { checkSandboxProject, describeSandboxProject, type SandboxProject } from './project.js';
import { prepareProjectEnv } from './project-env.js';
import {
  applyGuardrails,
  DEFAULT_POOL,
  projectCommand,
  sandboxApi,
  startWorkers,
  waitForWorkers,
} from './project-setup.js';
import { findServerLogCause } from './server-log.js';
import {
  readSandboxState,
  removeSandboxState,
  type SandboxState,
  sandboxWorkers,
  writeAuthStringFile,
  writeSandboxState,
} from './state.js';
import { type WorkerWait, waitForServerStart } from './wait.js';

export { applyGuardrails, sandboxApi };

export interface SandboxOptions {
  stateDir: string;
  runner: ProcessRunner;
  port?: number;
  healthTimeoutMs?: number;
  /** The time the health timeout is measured in (default: the system's). */
  clock?: Clock;
  /** The project to host; by default whatever already runs, else the runbook-shaped fixture. */
  project?: SandboxProject;
  /** Process workers to start on the pool (default 1). */
  workers?: number;
  /** The server's database: its embedded SQLite (default) or a PostgreSQL cluster of the sandbox's own. */
  database?: 'sqlite' | 'postgres';
  /** Quick pickup (default) or Prefect's own polling and retry intervals, as on a staging server. */
  timing?: 'quick' | 'staging';
  /** Start the server with a basic-auth string, as a self-hosted staging server is. */
  auth?: boolean;
  /** The uv executable (tests substitute a tiny program). */
  uv?: string;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

const UV_HINT = `install it with ${INSTALL_UV}, then run \`rehearse sandbox up\` again`;

/** The sandbox is up when its server answers and its workers live. */
export async function sandboxHealth(state: SandboxState): Promise<{ server: boolean; worker: boolean; api: boolean }> {
  const api = await checkHealth(sandboxApi(state));
  const workers = sandboxWorkers(state);
  const worker = workers.length > 0 && workers.every((w) => isAlive(w.pid));
  return { server: isAlive(state.server.pid), worker, api: api.ok };
}

const WORKERS_TIMEOUT_MS = 120_000;

function workerWait(options: SandboxOptions, since: Date, progress: (m: string) => void) {
  return {
    since,
    timeoutMs: WORKERS_TIMEOUT_MS,
    onProgress: progress,
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/** Up returns only once the server hears from every worker, so the next command's preflight finds them live. */
async function workersFailure(
  wait: WorkerWait,
  workers: NonNullable<SandboxState['workers']>,
  pool: string,
): Promise<RehearseError> {
  if (wait.outcome === 'aborted') {
    return new RehearseError('INTERRUPTED', 'sandbox up was interrupted while its workers started');
  }
  const logs = workers.map((w) => w.log);
  const log = await fs.readFile(logs[0] ?? '', 'utf8').catch(() => '');
  const stale = wait.known > wait.live ? ` (${wait.known} known on ${pool}, the others not heard from lately)` : '';
  return new RehearseError(
    'SANDBOX_FAILED',
    `the server heard from ${wait.live} of ${workers.length} process worker(s) within ${WORKERS_TIMEOUT_MS / 1000} s${stale}`,
    { details: tailOf(log), hint: `see ${logs.join(', ')}` },
  );
}

async function serverFailure(state: SandboxState, outcome: 'exited' | 'timeout'): Promise<RehearseError> {
  const found = findServerLogCause(await fs.readFile(state.server.log, 'utf8').catch(() => ''));
  const what =
    outcome === 'exited'
      ? 'the Prefect server exited while starting'
      : `the Prefect server never became healthy at ${state.apiUrl}/health`;
  return new RehearseError('SANDBOX_FAILED', found.cause ? `${what}: ${found.cause}` : what, {
    details: found.tail,
    hint:
      `see ${state.server.log}; a broken ${state.projectDir}/.venv (rerun \`uv sync --locked\` there) ` +
      'or dependencies newer than its Prefect release supports are the usual causes',
  });
}

async function checkUv(options: SandboxOptions): Promise<void> {
  const command = toolVersionCommand(options.uv ?? 'uv');
  const uv = await options.runner.run(command);
  if (uv.spawnError !== undefined) {
    throw new RehearseError('TOOL_MISSING', 'uv is not installed or not on PATH', { hint: UV_HINT });
  }
}

export interface UpResult {
  state: SandboxState;
  alreadyRunning: boolean;
}

async function reuseRunning(options: SandboxOptions, progress: (m: string) => void): Promise<UpResult | undefined> {
  const previous = await readSandboxState(options.stateDir);
  if (!previous) return undefined;
  if (options.project && path.resolve(options.project.dir) !== path.resolve(previous.projectDir)) {
    throw new RehearseError('USAGE', `a sandbox hosting ${previous.projectDir} already runs in ${options.stateDir}`, {
      hint: 'stop it first with `rehearse sandbox down`, or give this one its own --state-dir',
    });
  }
  refuseOtherShape(previous, options);
  const health = await sandboxHealth(previous);
  if (health.api && health.worker) return { state: previous, alreadyRunning: true };
  if (health.api && health.server && previous.workPool) {
    progress('the server runs but its workers do not: restarting them');
    for (const w of sandboxWorkers(previous)) await stopGroup(w.pid, 5_000);
    const count = Math.max(1, sandboxWorkers(previous).length);
    const since = new Date();
    const workers = await startWorkers(previous, previous.workPool, count, options.uv);
    const state = { ...previous, worker: workers[0], workers };
    await writeSandboxState(state);
    const wait = await waitForWorkers(state, previous.workPool, count, workerWait(options, since, progress));
    if (wait.outcome === 'live') return { state, alreadyRunning: false };
  }
  progress('a previous sandbox is half up: stopping it first');
  await sandboxDown(options.stateDir);
  return undefined;
}

/** A running sandbox is reused only when it is what was asked for: another database, auth or timing is refused. */
function refuseOtherShape(previous: SandboxState, options: SandboxOptions): void {
  const runs = {
    database: previous.postgres ? 'postgres' : 'sqlite',
    auth: Boolean(previous.authString),
    timing: previous.timing ?? 'quick',
  };
  const asked = {
    database: options.database ?? runs.database,
    auth: options.auth ?? runs.auth,
    timing: options.timing ?? runs.timing,
  };
  if (asked.database === runs.database && asked.auth === runs.auth && asked.timing === runs.timing) return;
  const shape = (s: typeof runs): string =>
    `${s.database}${s.auth ? ' with auth' : ''}${s.timing === 'staging' ? ' with staging timing' : ''}`;
  throw new RehearseError('USAGE', `a sandbox on ${shape(runs)} already runs in ${options.stateDir}`, {
    hint: `stop it with \`rehearse sandbox down\` before starting one on ${shape(asked)}`,
  });
}

async function pickPort(requested: number | undefined): Promise<number> {
  if (requested === undefined) return freePort();
  if (!(await portIsFree(requested))) {
    throw new RehearseError('PORT_BUSY', `port ${requested} on 127.0.0.1 is already in use`, {
      hint: 'pick another with --port, or omit --port to use a free one',
    });
  }
  return requested;
}

/** What only the server is given: its database and the auth string it demands. */
function serverEnv(state: SandboxState): Record<string, string> {
  return {
    ...(state.postgres ? { PREFECT_API_DATABASE_CONNECTION_URL: connectionUrl(state.postgres) } : {}),
    ...(state.authString ? { PREFECT_SERVER_API_AUTH_STRING: state.authString } : {}),
  };
}

/**
 * The server's process, started as up starts it: the project's environment, the sandbox's port, database and
 * settings, its log appended to. Its pid; the caller records it and waits for /health (restart-api does too).
 */
export async function spawnServer(state: SandboxState, uv?: string): Promise<number> {
  const command = projectCommand(state, ['prefect', ...startServerArgs(state.port)], uv);
  return spawnDetached({ ...command, env: { ...command.env, ...serverEnv(state) } }, state.server.log);
}

/** Start the server from the project's own environment and wait until it answers, or say why it died. */
async function startServer(
  options: SandboxOptions,
  project: SandboxProject,
  state: SandboxState,
): Promise<SandboxState> {
  const pid = await spawnServer(state, options.uv);
  const started = { ...state, server: { pid, log: state.server.log } };
  await writeSandboxState(started);
  const healthy = async (): Promise<boolean> => (await checkHealth(sandboxApi(started))).ok;
  const outcome = await waitForServerStart(() => isAlive(pid), healthy, {
    timeoutMs: options.healthTimeoutMs ?? 180_000,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
  });
  if (outcome === 'healthy') {
    const prefectVersion = await readServerVersion(sandboxApi(started)).catch(() => undefined);
    return { ...started, ...(prefectVersion ? { prefectVersion } : {}) };
  }
  const error =
    outcome === 'aborted'
      ? new RehearseError('INTERRUPTED', `sandbox up was interrupted while the server of ${project.dir} started`)
      : await serverFailure(started, outcome);
  await sandboxDown(options.stateDir);
  throw error;
}

async function startCluster(options: SandboxOptions, progress: (m: string) => void) {
  const port = await freePort();
  progress(`starting the sandbox's PostgreSQL on 127.0.0.1:${port}`);
  const cluster = await startPostgres(options.runner, { stateDir: options.stateDir, port });
  // Recorded at once, so a failure further on still stops the cluster.
  await writeSandboxState({ ...placeholderState(options.stateDir), postgres: cluster });
  return cluster;
}

/** The state of a sandbox whose server has not started yet: enough for `down` to stop what has. */
function placeholderState(stateDir: string): SandboxState {
  return {
    version: 1,
    apiUrl: '',
    uiUrl: '',
    port: 0,
    stateDir,
    prefectHome: path.join(stateDir, 'prefect-home'),
    projectDir: '',
    startedAt: new Date().toISOString(),
    server: { pid: 0, log: path.join(stateDir, 'server.log') },
  };
}

/** What the sandbox records before its server starts (the server's pid is filled in once it runs). */
function initialState(
  options: SandboxOptions,
  project: SandboxProject,
  expected: ExpectedGuardrails,
  port: number,
  postgres: SandboxState['postgres'],
): SandboxState {
  return {
    version: 1,
    apiUrl: `http://127.0.0.1:${port}/api`,
    uiUrl: `http://127.0.0.1:${port}`,
    port,
    stateDir: options.stateDir,
    prefectHome: path.join(options.stateDir, 'prefect-home'),
    projectDir: project.dir,
    projectEnv: project.env,
    deployCommand: ['uv', 'run', ...project.deployArgs],
    startedAt: new Date().toISOString(),
    server: { pid: 0, log: path.join(options.stateDir, 'server.log') },
    deployment: `hotpass-backfill/${expected.deploymentName}`,
    ...(expected.workPool ? { workPool: expected.workPool } : {}),
    ...(expected.concurrencyKey ? { concurrencyKey: expected.concurrencyKey } : {}),
    ...(postgres ? { postgres } : {}),
    ...(options.auth ? { authString: `rehearse:${randomBytes(18).toString('base64url')}` } : {}),
    ...(options.timing === 'staging' ? { timing: 'staging' as const } : {}),
  };
}

/** Start (or find running) the local server, pool, deployment, limits and workers for one project. */
export async function sandboxUp(options: SandboxOptions): Promise<UpResult> {
  const progress = options.onProgress ?? (() => undefined);
  const reused = await reuseRunning(options, progress);
  if (reused) return reused;
  const project = options.project ?? describeSandboxProject(undefined);
  await checkSandboxProject(project);
  const expected = await loadExpectedGuardrails(project.dir, project.manifest);
  await checkUv(options);
  await prepareProjectEnv(project, options.runner, {
    ...(options.uv ? { uv: options.uv } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: progress,
  });
  const port = await pickPort(options.port);
  await fs.ensureDir(options.stateDir);
  const postgres = options.database === 'postgres' ? await startCluster(options, progress) : undefined;
  progress(`starting the Prefect server of ${project.dir} on 127.0.0.1:${port}`);
  let state: SandboxState = await startServer(
    options,
    project,
    initialState(options, project, expected, port, postgres),
  );
  await writeAuthStringFile(state);
  const pool = expected.workPool ?? DEFAULT_POOL;
  const count = Math.max(1, options.workers ?? 1);
  // Started beside the deploy (it imports Prefect meanwhile), awaited before the workers that use it.
  const starter =
    state.timing === 'staging'
      ? undefined
      : startFlowStarter(options.stateDir, projectCommand(state, flowStarterArgs(options.stateDir), options.uv));
  try {
    progress(`creating the work pool and running the project's deploy: ${state.deployCommand?.join(' ')}`);
    await applyGuardrails(state, options.runner, expected, project, options.uv);
    const flowStarter = await starter;
    if (flowStarter) state = { ...state, flowStarter };
    else if (starter) progress('the warm flow starter did not start: flow runs start as fresh processes');
    await writeSandboxState(state);
    progress(count === 1 ? 'starting a process worker' : `starting ${count} process workers`);
    const since = new Date();
    const workers = await startWorkers(state, pool, count, options.uv);
    state = { ...state, worker: workers[0], workers };
    await writeSandboxState(state);
    const wait = await waitForWorkers(state, pool, count, workerWait(options, since, progress));
    if (wait.outcome !== 'live') throw await workersFailure(wait, workers, pool);
  } catch (error) {
    const flowStarter = await starter?.catch(() => undefined);
    if (flowStarter) await stopGroup(flowStarter.pid, 2_000);
    await sandboxDown(options.stateDir);
    throw error;
  }
  return { state, alreadyRunning: false };
}

export interface DownResult {
  stopped: { name: string; pid: number; outcome: string }[];
  wasRunning: boolean;
}

/** Stop exactly what up started (by the PIDs it recorded): workers and flow starter first, then the server. */
export async function sandboxDown(
  stateDir: string,
  options: { purge?: boolean; runner?: ProcessRunner } = {},
): Promise<DownResult> {
  const state = await readSandboxState(stateDir);
  const stopped: DownResult['stopped'] = [];
  if (state) {
    // The workers and the flow starter that runs their flows stop together, then the server they talk to.
    const workers = sandboxWorkers(state).map((w, i, all) => ({
      name: all.length === 1 ? 'worker' : `worker ${i + 1}`,
      pid: w.pid,
    }));
    const runners = state.flowStarter ? [...workers, { name: 'flow starter', pid: state.flowStarter.pid }] : workers;
    const outcomes = await Promise.all(runners.map((r) => stopGroup(r.pid)));
    runners.forEach((r, i) => stopped.push({ ...r, outcome: outcomes[i] ?? '' }));
    stopped.push({ name: 'server', pid: state.server.pid, outcome: await stopGroup(state.server.pid) });
    for (const pid of await processesWithEnv('PREFECT_HOME', state.prefectHome)) {
      stopped.push({ name: 'flow run', pid, outcome: await stopGroup(pid, 5_000) });
    }
    if (state.postgres) {
      const { pid, outcome } = await stopPostgres(options.runner ?? createProcessRunner(), state.postgres);
      stopped.push({ name: 'postgres', pid, outcome });
    }
    await removeSandboxState(stateDir);
  }
  if (options.purge) {
    await removePostgres(stateDir);
    await fs.remove(stateDir);
  }
  return { stopped, wasRunning: state !== undefined };
}
