import { RehearseError, tailOf } from '../errors.js';
import type { Command, ProcessResult, ProcessRunner } from '../process/command.js';
import { formatCommand, succeeded } from '../process/command.js';
import type { SandboxProject } from './project.js';

/**
 * A first sync downloads and installs Prefect and its ~100 dependencies, then compiles them
 * (a minute or two on a cold cache, seconds on a warm one): long enough for a slow mirror,
 * short enough that a hung download ends in an error an operator can act on.
 */
export const PROJECT_SYNC_TIMEOUT_MS = 15 * 60_000;

/**
 * The project's environment exactly as its lock file pins it. --compile-bytecode: every
 * `uv run prefect` and every flow run imports Prefect (~1,000 modules); where
 * PYTHONDONTWRITEBYTECODE is set nothing else would write their .pyc, and each start would
 * compile them all again.
 */
function projectSyncCommand(projectDir: string, uv = 'uv'): Command {
  return {
    file: uv,
    args: ['sync', '--locked', '--compile-bytecode'],
    cwd: projectDir,
    readOnly: false,
    timeoutMs: PROJECT_SYNC_TIMEOUT_MS,
  };
}

/** Whether the environment already matches the lock file (no .venv, or one a sync was cut short in, does not). */
function projectCheckCommand(projectDir: string, uv: string): Command {
  return { file: uv, args: ['sync', '--locked', '--check'], cwd: projectDir, readOnly: true, timeoutMs: 60_000 };
}

/** uv lists every package it installs (` + name==1.0`): progress enough is its summary lines. */
const isPackageLine = (line: string): boolean => /^\s*[-+~] /.test(line);

export interface ProjectEnvOptions {
  uv?: string;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

/**
 * Make the hosted project's uv environment before anything runs from it, as `scripts/setup.sh`
 * does for the fixtures: a fresh clone has none. Nothing happens when it is already in sync.
 */
export async function prepareProjectEnv(
  project: Pick<SandboxProject, 'dir'>,
  runner: ProcessRunner,
  options: ProjectEnvOptions = {},
): Promise<'in-sync' | 'synced'> {
  const uv = options.uv ?? 'uv';
  const signalOption = options.signal ? { signal: options.signal } : {};
  const check = await runner.run(projectCheckCommand(project.dir, uv), signalOption);
  if (succeeded(check)) return 'in-sync';
  if (check.cancelled) throw interrupted(project.dir);
  const command = projectSyncCommand(project.dir, uv);
  const shown = `(cd ${project.dir} && ${formatCommand({ ...command, file: 'uv' })})`;
  const progress = options.onProgress ?? (() => undefined);
  progress(`preparing the project's Python environment: ${shown}`);
  const result = await runner.run(command, {
    ...signalOption,
    onStderrLine: (line) => {
      if (line.trim() && !isPackageLine(line)) progress(`uv: ${line.trim()}`);
    },
  });
  if (result.cancelled) throw interrupted(project.dir);
  if (!succeeded(result)) throw syncFailure(result, shown);
  return 'synced';
}

const interrupted = (dir: string): RehearseError =>
  new RehearseError('INTERRUPTED', `sandbox up was interrupted while it prepared the Python environment of ${dir}`, {
    hint: 'run `rehearse sandbox up` again: it finishes the environment first',
  });

function syncFailure(result: ProcessResult, shown: string): RehearseError {
  const how =
    result.spawnError !== undefined
      ? `could not start (${result.spawnError})`
      : result.timedOut
        ? `did not finish within ${PROJECT_SYNC_TIMEOUT_MS / 60_000} min`
        : `exited ${result.exitCode ?? `on ${result.signal ?? 'a signal'}`}`;
  const output = `${result.stdout}\n${result.stderr}`
    .split('\n')
    .filter((line) => !isPackageLine(line))
    .join('\n');
  return new RehearseError(
    'SANDBOX_FAILED',
    `sandbox: the project's Python environment could not be prepared: \`${shown}\` ${how}`,
    {
      details: tailOf(output, 12),
      hint: `fix what uv says above (run \`${shown}\` by hand to see all of it), then run \`rehearse sandbox up\` again`,
    },
  );
}
