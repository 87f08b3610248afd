import { ExitCode } from '../errors.js';
import type { ProcessRunner } from '../process/command.js';
import { createProcessRunner } from '../process/runner.js';
import type { CommandResult, Reporter } from '../report/events.js';
import { sandboxDown, sandboxHealth, sandboxUp } from '../sandbox/lifecycle.js';
import { readSandboxState, sandboxProcessEnv } from '../sandbox/state.js';

export interface SandboxCommandOptions {
  stateDir: string;
  reporter: Reporter;
  port?: number;
  purge?: boolean;
  runner?: ProcessRunner;
}

export async function sandboxUpCommand(options: SandboxCommandOptions): Promise<CommandResult> {
  const { state, alreadyRunning } = await sandboxUp({
    stateDir: options.stateDir,
    runner: options.runner ?? createProcessRunner(),
    ...(options.port ? { port: options.port } : {}),
    onProgress: (message) => options.reporter.emit({ type: 'info', message: `sandbox: ${message}` }),
  });
  return {
    command: 'sandbox up',
    exitCode: ExitCode.ok,
    verdict: 'pass',
    data: { alreadyRunning, ...state },
    lines: [
      alreadyRunning ? `sandbox already running at ${state.apiUrl}` : `sandbox up at ${state.apiUrl}`,
      `  UI          ${state.uiUrl}`,
      `  deployment  ${state.deployment ?? '?'} on pool ${state.workPool ?? '?'} (worker pid ${state.worker?.pid ?? '-'})`,
      `  server pid  ${state.server.pid}; logs in ${state.stateDir}`,
      'next: `rehearse inspect --sandbox`, or `eval "$(rehearse sandbox env)"` to use `uv run prefect` by hand',
    ],
  };
}

export async function sandboxDownCommand(options: SandboxCommandOptions): Promise<CommandResult> {
  const result = await sandboxDown(options.stateDir, { purge: options.purge ?? false });
  const lines = result.wasRunning
    ? result.stopped.map((s) => `stopped ${s.name} (pid ${s.pid}): ${s.outcome}`)
    : ['no sandbox was running'];
  if (options.purge) lines.push(`removed ${options.stateDir}`);
  return { command: 'sandbox down', exitCode: ExitCode.ok, verdict: 'pass', data: { ...result }, lines };
}

export async function sandboxStatusCommand(options: SandboxCommandOptions): Promise<CommandResult> {
  const state = await readSandboxState(options.stateDir);
  if (!state) {
    return { command: 'sandbox status', exitCode: ExitCode.couldNotRun, verdict: 'error', data: { running: false }, lines: ['sandbox: not running (start it with `rehearse sandbox up`)'] };
  }
  const health = await sandboxHealth(state);
  const running = health.api && health.worker;
  const mark = (ok: boolean): string => (ok ? 'running' : 'NOT running');
  return {
    command: 'sandbox status',
    exitCode: running ? ExitCode.ok : ExitCode.couldNotRun,
    verdict: running ? 'pass' : 'error',
    data: { running, health, ...state },
    lines: [
      `sandbox ${running ? 'up' : 'degraded'}: API ${state.apiUrl} (${health.api ? 'healthy' : 'not answering'})`,
      `  server  pid ${state.server.pid} ${mark(health.server)}`,
      `  worker  pid ${state.worker?.pid ?? '-'} ${mark(health.worker)} on pool ${state.workPool ?? '?'}`,
      `  deployment ${state.deployment ?? '?'}; started ${state.startedAt}; state in ${state.stateDir}`,
    ],
  };
}

/** `eval "$(rehearse sandbox env)"` points an operator's shell at the sandbox. */
export async function sandboxEnvCommand(options: SandboxCommandOptions): Promise<CommandResult> {
  const state = await readSandboxState(options.stateDir);
  if (!state) {
    return { command: 'sandbox env', exitCode: ExitCode.couldNotRun, verdict: 'error', lines: ['# sandbox not running: start it with `rehearse sandbox up`'] };
  }
  const env = sandboxProcessEnv(state);
  const keep = ['PREFECT_API_URL', 'PREFECT_HOME', 'PREFECT_CLI_PROMPT', 'DO_NOT_TRACK', 'UV_PYTHON_DOWNLOADS'];
  return {
    command: 'sandbox env',
    exitCode: ExitCode.ok,
    verdict: 'pass',
    data: Object.fromEntries(keep.map((k) => [k, env[k]])),
    lines: [
      ...keep.map((k) => `export ${k}=${JSON.stringify(env[k])}`),
      `# then: cd ${JSON.stringify(state.projectDir)} && uv run prefect deployment inspect ${state.deployment ?? 'hotpass-backfill/hotpass-backfill'} -o json`,
    ],
  };
}
