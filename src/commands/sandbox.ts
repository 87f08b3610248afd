import { ExitCode, RehearseError } from '../errors.js';
import type { ProcessRunner } from '../process/command.js';
import { quoteArg } from '../process/command.js';
import { createProcessRunner } from '../process/runner.js';
import type { CommandResult, Reporter } from '../reporters/events.js';
import { sandboxDown, sandboxHealth, sandboxUp } from '../sandbox/lifecycle.js';
import { describeSandboxProject } from '../sandbox/project.js';
import {
  authStringFile,
  publicSandboxState,
  QUICK_TIMING,
  readSandboxState,
  type SandboxState,
  sandboxProcessEnv,
} from '../sandbox/state.js';

export interface SandboxCommandOptions {
  stateDir: string;
  reporter: Reporter;
  port?: number;
  purge?: boolean;
  runner?: ProcessRunner;
  /** Host this project instead of the runbook fixture. */
  projectDir?: string;
  /** As typed after --workers. */
  workers?: string | number;
  database?: 'sqlite' | 'postgres';
  auth?: boolean;
  timing?: 'quick' | 'staging';
  cwd?: string;
  signal?: AbortSignal;
}

export function parseWorkerCount(raw: string | number | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const count = Number(raw);
  if (!Number.isInteger(count) || count < 1 || count > 8) {
    throw new RehearseError('USAGE', `--workers expects a whole number from 1 to 8, got '${raw}'`, {
      hint: 'e.g. --workers 2',
    });
  }
  return count;
}

const hosting = (state: SandboxState): string =>
  `${state.projectDir} (Prefect ${state.prefectVersion ?? 'version unknown'})`;

export async function sandboxUpCommand(options: SandboxCommandOptions): Promise<CommandResult> {
  const workers = parseWorkerCount(options.workers);
  const { state, alreadyRunning } = await sandboxUp({
    stateDir: options.stateDir,
    runner: options.runner ?? createProcessRunner(),
    ...(options.port ? { port: options.port } : {}),
    ...(options.projectDir ? { project: describeSandboxProject(options.projectDir, options.cwd) } : {}),
    ...(workers ? { workers } : {}),
    ...(options.database ? { database: options.database } : {}),
    ...(options.auth ? { auth: true } : {}),
    ...(options.timing ? { timing: options.timing } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    onProgress: (message) => options.reporter.emit({ type: 'info', message: `sandbox: ${message}` }),
  });
  return {
    command: 'sandbox up',
    exitCode: ExitCode.ok,
    verdict: 'pass',
    data: { alreadyRunning, ...publicSandboxState(state) },
    lines: [
      alreadyRunning ? `sandbox already running at ${state.apiUrl}` : `sandbox up at ${state.apiUrl}`,
      `  UI          ${state.uiUrl}`,
      `  database    ${describeDatabase(state)}`,
      `  timing      ${describeTiming(state)}`,
      `  leases      ${describeLeases(state)}`,
      `  project     ${hosting(state)}`,
      `  deployed by ${state.deployCommand?.join(' ') ?? '?'}`,
      `  deployment  ${state.deployment ?? '?'} on pool ${state.workPool ?? '?'} (worker pid ${workerPids(state)})`,
      `  server pid  ${state.server.pid}; logs in ${state.stateDir}`,
      'next: `rehearse inspect --sandbox`, or `eval "$(rehearse sandbox env)"` to use `uv run prefect` by hand',
    ],
  };
}

const describeDatabase = (state: SandboxState): string =>
  (state.postgres
    ? `PostgreSQL on 127.0.0.1:${state.postgres.port} (data in ${state.postgres.dataDir})`
    : `SQLite in ${state.prefectHome}`) +
  (state.authString ? '; basic auth on (`rehearse sandbox env` exports the string)' : '');

const describeTiming = (state: SandboxState): string =>
  state.timing === 'staging'
    ? "staging: Prefect's own polling (10 s) and slot retry (30 s)"
    : 'quick: workers poll every 1 s, queued runs retry every 1 s' +
      (state.flowStarter ? `, flow runs fork from a warm starter (pid ${state.flowStarter.pid})` : '') +
      ' (`--timing staging` for the defaults)';

/** How long a killed run's slot stays held: what a kill-flow rehearsal waits for. */
const describeLeases = (state: SandboxState): string =>
  state.timing === 'staging'
    ? "Prefect's own: a killed run's key slot comes back when its 300 s lease expires (checked every 15 s)"
    : `a killed run's key slot comes back when its ${QUICK_TIMING.HOTPASS_CONCURRENCY_LEASE_SECONDS} s lease expires ` +
      '(HOTPASS_CONCURRENCY_LEASE_SECONDS, read by the stand-in flow; Prefect: 300 s), checked every ' +
      `${QUICK_TIMING.PREFECT_SERVER_SERVICES_REPOSSESSOR_LOOP_SECONDS} s`;

const workerPids = (state: SandboxState): string =>
  (state.workers ?? (state.worker ? [state.worker] : [])).map((w) => w.pid).join(', ') || '-';

export async function sandboxDownCommand(options: SandboxCommandOptions): Promise<CommandResult> {
  const result = await sandboxDown(options.stateDir, { purge: options.purge ?? false });
  const lines = result.wasRunning
    ? result.stopped.map((s) => `stopped ${s.name} (pid ${s.pid}): ${s.outcome}`)
    : ['no sandbox was running'];
  if (options.purge) lines.push(`removed ${options.stateDir}`);
  return { command: 'sandbox down', exitCode: ExitCode.ok, verdict: 'pass', data: { ...result }, lines };
}

/** What a command about the sandbox answers when none is running: exit 3, and `line` says how to start one. */
const notRunning = (command: string, line: string, data?: Record<string, unknown>): CommandResult => ({
  command,
  exitCode: ExitCode.couldNotRun,
  verdict: 'error',
  ...(data ? { data } : {}),
  lines: [line],
});

export async function sandboxStatusCommand(options: SandboxCommandOptions): Promise<CommandResult> {
  const state = await readSandboxState(options.stateDir);
  if (!state) {
    return notRunning('sandbox status', 'sandbox: not running (start it with `rehearse sandbox up`)', {
      running: false,
    });
  }
  const health = await sandboxHealth(state);
  const running = health.api && health.worker;
  const mark = (ok: boolean): string => (ok ? 'running' : 'NOT running');
  return {
    command: 'sandbox status',
    exitCode: running ? ExitCode.ok : ExitCode.couldNotRun,
    verdict: running ? 'pass' : 'error',
    data: { running, health, ...publicSandboxState(state) },
    lines: [
      `sandbox ${running ? 'up' : 'degraded'}: API ${state.apiUrl} (${health.api ? 'healthy' : 'not answering'})`,
      `  server  pid ${state.server.pid} ${mark(health.server)}`,
      `  worker  pid ${workerPids(state)} ${mark(health.worker)} on pool ${state.workPool ?? '?'}`,
      `  project ${hosting(state)}`,
      `  database ${describeDatabase(state)}`,
      `  timing ${describeTiming(state)}`,
      `  leases ${describeLeases(state)}`,
      `  deployment ${state.deployment ?? '?'}; started ${state.startedAt}; state in ${state.stateDir}`,
    ],
  };
}

/** `eval "$(rehearse sandbox env)"` points an operator's shell at the sandbox. */
export async function sandboxEnvCommand(options: SandboxCommandOptions): Promise<CommandResult> {
  const state = await readSandboxState(options.stateDir);
  if (!state) return notRunning('sandbox env', '# sandbox not running: start it with `rehearse sandbox up`');
  const env = sandboxProcessEnv(state);
  const keep = ['PREFECT_API_URL', 'PREFECT_HOME', 'PREFECT_CLI_PROMPT', 'DO_NOT_TRACK'];
  // The hosted project's own switches (HOTPASS_ENABLE_PREFECT_RUNTIME) too, so its CLI works by hand.
  keep.push(...Object.keys(state.projectEnv ?? {}));
  return {
    command: 'sandbox env',
    exitCode: ExitCode.ok,
    verdict: 'pass',
    data: {
      ...Object.fromEntries(keep.map((k) => [k, env[k]])),
      ...(state.authString ? { PREFECT_API_AUTH_STRING_FILE: authStringFile(state.stateDir) } : {}),
    },
    lines: [
      ...keep.map((k) => `export ${k}=${JSON.stringify(env[k])}`),
      // The auth string is read from its file by the shell, never printed: output can be logged.
      ...(state.authString
        ? [`export PREFECT_API_AUTH_STRING="$(cat ${quoteArg(authStringFile(state.stateDir))})"`]
        : []),
      `# then: cd ${JSON.stringify(state.projectDir)} && uv run prefect deployment inspect ${state.deployment ?? 'hotpass-backfill/hotpass-backfill'} -o json`,
    ],
  };
}
