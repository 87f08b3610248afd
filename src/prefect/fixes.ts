import { quoteArg } from '../process/command.js';
import { createGlobalLimitArgs, enableGlobalLimitArgs, patchDeploymentArgs } from './cli-args.js';

/**
 * Fix commands rehearse prints. Each is a real command of Prefect 3.5 and 3.9 (checked against
 * their `--help`): `prefect deployment` has no pause/resume, so a deployment's own `paused` flag is
 * changed through `prefect api`. A fix with a side effect says so in its text.
 */

/** Characters Prefect refuses in a global concurrency limit's name. */
export const INVALID_LIMIT_NAME = /[/%&><]/;

/** A name Prefect accepts for a key it refuses: every run of refused characters becomes a dash. */
export function suggestLimitName(key: string): string {
  const name = key.replace(new RegExp(`${INVALID_LIMIT_NAME.source}+`, 'g'), '-').replace(/^-+|-+$/g, '');
  return name || 'rehearse-limit';
}

/** `uv run prefect` (or the configured CLI) followed by the arguments, quoted as a shell needs. */
export function prefectLine(cli: readonly string[], args: readonly string[]): string {
  return [...cli, ...args].map(quoteArg).join(' ');
}

/** The deployment a fix changes: its id, and its default parameters to merge a change into. */
export interface DeploymentParameters {
  id: string;
  parameters: Record<string, unknown>;
}

/**
 * Creating the global limit a concurrency key names. A key Prefect cannot name is renamed: the limit is
 * created under the new name and the deployment's default `concurrency_key` set to it through
 * `prefect api PATCH /deployments/<id>` (the field replaces the whole default-parameter object, so every
 * other default is sent back unchanged). The manifest must be renamed too, or the next deploy puts the
 * old key back; the fix says so.
 */
export function createLimitFix(
  cli: readonly string[],
  key: string,
  limit: number | undefined,
  deployment?: DeploymentParameters,
): string {
  const slots = limit === undefined ? 'N' : String(limit);
  if (!INVALID_LIMIT_NAME.test(key)) return prefectLine(cli, createGlobalLimitArgs(key, slots));
  const renamed = suggestLimitName(key);
  const create = prefectLine(cli, createGlobalLimitArgs(renamed, slots));
  if (!deployment)
    return (
      `rename the key (e.g. \`${renamed}\`) in the manifest's concurrency_key parameter and the deployment, ` +
      `and create that limit: \`${create}\``
    );
  const parameters = { ...deployment.parameters, concurrency_key: renamed };
  const patch = prefectLine(cli, patchDeploymentArgs(deployment.id, JSON.stringify({ parameters })));
  return (
    `\`${create} && ${patch}\` (creates the limit, then sets the deployment's default concurrency_key to ` +
    `${renamed}, sending its other default parameters back unchanged; nothing else of the deployment changes), ` +
    `and rename concurrency_key to ${renamed} in the manifest, or the next deploy puts ${key} back`
  );
}

export function enableLimitFix(cli: readonly string[], key: string): string {
  return prefectLine(cli, enableGlobalLimitArgs(key));
}

export interface PausedDeployment {
  id: string;
  fullName: string;
  schedules: readonly { id?: unknown; active: boolean }[];
}

/**
 * Un-pausing a deployment. `PATCH /deployments/{id}` with paused=false changes only the flag, never
 * a schedule's `active`; but once the deployment is not paused, Prefect's scheduler creates runs for
 * every active schedule. So active schedules are paused first, and the fix says so.
 */
export function unpauseFix(
  cli: readonly string[],
  deployment: PausedDeployment,
): { command: string; note: string; steps: string[][] } {
  const active = deployment.schedules.filter((s) => s.active && typeof s.id === 'string');
  const steps = [
    ...active.map((s) => ['deployment', 'schedule', 'pause', deployment.fullName, s.id as string]),
    ['api', 'PATCH', `/deployments/${deployment.id}`, '--data', '{"paused": false}'],
  ];
  const command = steps.map((args) => prefectLine(cli, args)).join(' && ');
  const note = active.length
    ? `side effect: it first pauses the deployment's ${active.length} active schedule(s), because an un-paused ` +
      'deployment with an active schedule gets scheduled runs; `prefect deployment schedule resume` would turn ' +
      'them on instead'
    : 'un-pausing through the API leaves its schedules inactive, so no run gets scheduled ' +
      '(`prefect deployment schedule resume` would turn its schedule on)';
  return { command, note, steps };
}

/** Leftover rehearsal runs and the slots they hold are the cleanup command's to end (against the same server). */
export function cleanupFix(sandbox: boolean): string {
  return `rehearse cleanup --all${sandbox ? ' --sandbox' : ''}`;
}

/**
 * How to install uv, wherever rehearse finds it missing. Not `pip install uv`: Debian's and
 * Ubuntu's Pythons refuse a system-wide pip install (PEP 668, "externally-managed-environment").
 */
export const INSTALL_UV =
  "`pipx install uv` (on Debian: `sudo apt-get install pipx` first), or uv's own installer: https://docs.astral.sh/uv/getting-started/installation/";
