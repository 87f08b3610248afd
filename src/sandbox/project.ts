import path from 'node:path';
import fs from 'fs-extra';
import { RehearseError } from '../errors.js';
import { type Command, formatCommand, type ProcessRunner } from '../process/command.js';
import { FIXTURE_PROJECT } from './state.js';

/** What the sandbox needs to know to host a project: where it is and how it deploys itself. */
export interface SandboxProject {
  dir: string;
  /** The repository manifest the pool, deployment and key are read from. */
  manifest: string;
  /** The project's own deploy command, run as `uv run ...` in its directory. */
  deployArgs: string[];
  /** Extra environment the project's deploy, worker and flow runs need. */
  env: Record<string, string>;
  /** Whether the sandbox also creates the key's global limit and the pool limit (the runbook fixture only). */
  createsGuardrails: boolean;
  /**
   * Shipped with rehearse (the runbook fixture): the sandbox creates its uv environment when it has none, as
   * after `npm install -g`. Another project's checkout is the operator's to sync.
   */
  shipped: boolean;
}

/** The runbook-shaped fixture shipped with rehearse: the sandbox sets up every guardrail the runbook expects. */
export function runbookFixtureProject(): SandboxProject {
  return {
    dir: FIXTURE_PROJECT,
    manifest: 'prefect/deployments/hotpass-backfill.yaml',
    deployArgs: ['hotpass', 'deploy', '--manifest-dir', 'prefect/staging', '--flow', 'backfill'],
    env: {},
    createsGuardrails: true,
    shipped: true,
  };
}

/**
 * A checkout shaped like the upstream Hotpass project: its deploy command is run exactly as its
 * operators run it, and only what that command creates exists afterwards (plus the work pool it
 * needs), so a missing or unnameable limit stays missing for the checks to find.
 */
export function upstreamShapedProject(dir: string): SandboxProject {
  return {
    dir,
    manifest: 'prefect/deployments/hotpass-backfill.yaml',
    deployArgs: ['hotpass', 'deploy', '--flow', 'backfill', '--manifest-dir', 'prefect/deployments'],
    // Upstream registers its flows with Prefect only when this is set, at deploy and at run time.
    env: { HOTPASS_ENABLE_PREFECT_RUNTIME: '1' },
    createsGuardrails: false,
    shipped: false,
  };
}

export function describeSandboxProject(projectDir: string | undefined, cwd: string = process.cwd()): SandboxProject {
  if (projectDir === undefined) return runbookFixtureProject();
  const dir = path.resolve(cwd, projectDir);
  return dir === FIXTURE_PROJECT ? runbookFixtureProject() : upstreamShapedProject(dir);
}

/** Refuse a directory the sandbox cannot host before anything starts. */
export async function checkSandboxProject(project: SandboxProject): Promise<void> {
  const needed = [project.manifest, 'pyproject.toml'];
  for (const file of needed) {
    if (!(await fs.pathExists(path.join(project.dir, file)))) {
      throw new RehearseError('USAGE', `sandbox: ${project.dir} has no ${file}, so it cannot be hosted`, {
        hint:
          'pass --project-dir a project checkout with a uv project and prefect/deployments/hotpass-backfill.yaml, ' +
          'e.g. fixtures/hotpass-upstream',
      });
    }
  }
}

/** The command that creates a project's uv environment from its lock file, as the operator would run it. */
const uvSyncCommand = (project: SandboxProject, uv = 'uv'): Command => ({
  file: uv,
  args: ['sync', '--locked', '--compile-bytecode'],
  cwd: project.dir,
  readOnly: false,
  // Prefect and its dependencies from uv's cache, or downloaded: minutes on a slow link.
  timeoutMs: 600_000,
});

/** The project's uv environment (.venv): there, created for the shipped project, else refused with the command. */
export async function ensureUvEnvironment(
  project: SandboxProject,
  runner: ProcessRunner,
  uv: string | undefined,
  progress: (message: string) => void,
): Promise<void> {
  if (await fs.pathExists(path.join(project.dir, '.venv'))) return;
  const command = uvSyncCommand(project, uv);
  const line = formatCommand(command);
  if (!project.shipped) {
    throw new RehearseError('SANDBOX_FAILED', `sandbox: ${project.dir} has no uv environment (.venv)`, {
      hint: `run \`(cd ${project.dir} && ${line})\` first`,
    });
  }
  progress(`creating the uv environment of ${project.dir}: ${line}`);
  const result = await runner.run(command);
  if (result.exitCode !== 0) {
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-5);
    throw new RehearseError(
      'SANDBOX_FAILED',
      `sandbox: \`${line}\` in ${project.dir} failed (exit ${result.exitCode ?? 'none'})`,
      {
        details: tail,
        hint: `run it by hand in ${project.dir} to see why (uv needs the network or its cache for Prefect)`,
      },
    );
  }
}
