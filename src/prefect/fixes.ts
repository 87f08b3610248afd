import { quoteArg } from '../process/command.js';

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

/** Creating the global limit a concurrency key names; a key Prefect cannot name must be renamed first. */
export function createLimitFix(cli: readonly string[], key: string, limit: number | undefined): string {
  const slots = limit === undefined ? 'N' : String(limit);
  if (!INVALID_LIMIT_NAME.test(key)) return prefectLine(cli, ['gcl', 'create', key, '--limit', slots]);
  const renamed = suggestLimitName(key);
  return (
    `rename the key (e.g. \`${renamed}\`) in the manifest's concurrency_key parameter and the deployment, ` +
    `and create that limit: \`${prefectLine(cli, ['gcl', 'create', renamed, '--limit', slots])}\``
  );
}

export function enableLimitFix(cli: readonly string[], key: string): string {
  return prefectLine(cli, ['gcl', 'enable', key]);
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
export function unpauseFix(cli: readonly string[], deployment: PausedDeployment): { command: string; note: string } {
  const active = deployment.schedules.filter((s) => s.active && typeof s.id === 'string');
  const pauseSchedules = active.map((s) =>
    prefectLine(cli, ['deployment', 'schedule', 'pause', deployment.fullName, s.id as string]),
  );
  const patch = prefectLine(cli, ['api', 'PATCH', `/deployments/${deployment.id}`, '--data', '{"paused": false}']);
  const command = [...pauseSchedules, patch].join(' && ');
  const note = active.length
    ? `side effect: it first pauses the deployment's ${active.length} active schedule(s), because an un-paused ` +
      'deployment with an active schedule gets scheduled runs; `prefect deployment schedule resume` would turn ' +
      'them on instead'
    : 'un-pausing through the API leaves its schedules inactive, so no run gets scheduled ' +
      '(`prefect deployment schedule resume` would turn its schedule on)';
  return { command, note };
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
