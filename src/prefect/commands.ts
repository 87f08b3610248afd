import type { PrefectTarget } from '../context.js';
import type { Command } from '../process/command.js';

/** Pure builders of the Prefect CLI commands the runbook uses, corrected for Prefect 3. */

export interface PrefectCli {
  /** e.g. ['uv', 'run', 'prefect'] */
  base: string[];
  target: PrefectTarget;
  timeoutMs: number;
}

export function prefectCommand(cli: PrefectCli, args: string[], readOnly: boolean, timeoutMs = cli.timeoutMs): Command {
  const [file, ...prefix] = cli.base;
  return {
    file: file ?? 'uv',
    args: [...prefix, ...args],
    cwd: cli.target.projectDir,
    env: cli.target.env,
    readOnly,
    timeoutMs,
  };
}

export const inspectDeploymentCommand = (cli: PrefectCli, fullName: string): Command =>
  prefectCommand(cli, ['deployment', 'inspect', fullName, '-o', 'json'], true);

/**
 * `deployment run` reads the parameters on its stdin (`--params -`): they may hold secrets, and an
 * argument would show them to every local user in /proc/<pid>/cmdline for the whole watch.
 */
export function runDeploymentCommand(
  cli: PrefectCli,
  fullName: string,
  parameters: Record<string, unknown>,
  watchTimeoutSeconds: number,
  tags: string[] = [],
): Command {
  const args = [
    'deployment',
    'run',
    fullName,
    '--params',
    '-',
    '--watch',
    '--watch-timeout',
    String(Math.round(watchTimeoutSeconds)),
    ...tags.flatMap((tag) => ['--tag', tag]),
  ];
  // The CLI's own watch timeout ends first; ours is the backstop for a hung process.
  return { ...prefectCommand(cli, args, false, (watchTimeoutSeconds + 60) * 1000), input: JSON.stringify(parameters) };
}

export const prefectVersionCommand = (cli: PrefectCli): Command => prefectCommand(cli, ['--version'], true, 60_000);

/** `uv pip show prefect`: prefect's version read from the project's environment without starting Python. */
export const pipShowPrefectCommand = (cli: PrefectCli): Command => ({
  ...prefectVersionCommand(cli),
  args: ['pip', 'show', 'prefect'],
});

/** `uv --version` (or the configured tool's): is it there at all. */
export const toolVersionCommand = (file: string): Command => ({
  file,
  args: ['--version'],
  readOnly: true,
  timeoutMs: 30_000,
});

/** Every Prefect child process: talk to this API, plain output, no prompts, no telemetry. */
export function prefectEnv(apiUrl: string): Record<string, string> {
  return {
    PREFECT_API_URL: apiUrl,
    PREFECT_CLI_COLORS: 'false',
    PREFECT_CLI_WRAP_LINES: 'false',
    PREFECT_CLI_PROMPT: 'false',
    DO_NOT_TRACK: '1',
  };
}
