import path from 'node:path';
import fs from 'fs-extra';
import { RehearseError } from '../errors.js';
import { FIXTURE_PROJECT, PACKAGE_ROOT } from './state.js';

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
   * Whether its deploy registers flows where they are (no image, no storage), as the upstream Hotpass
   * does: the sandbox then runs it through DEPLOY_FROM_CHECKOUT, so the process pool can run them.
   */
  registersFromCheckout: boolean;
}

/** Runs a project's deploy with local storage at its checkout (see the script's docstring). */
export const DEPLOY_FROM_CHECKOUT = path.join(PACKAGE_ROOT, 'scripts', 'sandbox-deploy', 'deploy_from_checkout.py');

/** The runbook-shaped fixture shipped with rehearse: the sandbox sets up every guardrail the runbook expects. */
export function runbookFixtureProject(): SandboxProject {
  return {
    dir: FIXTURE_PROJECT,
    manifest: 'prefect/deployments/hotpass-backfill.yaml',
    deployArgs: ['hotpass', 'deploy', '--manifest-dir', 'prefect/staging', '--flow', 'backfill'],
    env: {},
    createsGuardrails: true,
    registersFromCheckout: false,
  };
}

/**
 * A checkout shaped like the upstream Hotpass project: its own deploy command is run as its
 * operators run it (with a pull step into the checkout for the flows it registers where they are),
 * and only what that command creates exists afterwards (plus the work pool it needs), so a missing
 * or unnameable limit stays missing for the checks to find.
 */
export function upstreamShapedProject(dir: string): SandboxProject {
  return {
    dir,
    manifest: 'prefect/deployments/hotpass-backfill.yaml',
    deployArgs: ['hotpass', 'deploy', '--flow', 'backfill', '--manifest-dir', 'prefect/deployments'],
    // Upstream registers its flows with Prefect only when this is set, at deploy and at run time.
    env: { HOTPASS_ENABLE_PREFECT_RUNTIME: '1' },
    createsGuardrails: false,
    registersFromCheckout: true,
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
