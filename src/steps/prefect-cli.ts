import type { Context } from '../context.js';
import { RehearseError, tailOf } from '../errors.js';
import type { PrefectCli } from '../prefect/commands.js';
import { INSTALL_UV } from '../prefect/fixes.js';
import type { ProcessResult } from '../process/command.js';

export function cliOf(ctx: Context): PrefectCli {
  return {
    base: ctx.config.prefect.command,
    target: ctx.prefect,
    timeoutMs: ctx.config.timeouts.commandSeconds * 1000,
  };
}

/** Turns a process that could not run, or timed out, into the error an operator can act on. */
export function assertRan(result: ProcessResult, what: string): void {
  if (result.spawnError !== undefined) {
    throw new RehearseError(
      'TOOL_MISSING',
      `could not start ${result.command.file} while ${what} (${result.spawnError})`,
      {
        hint:
          result.command.file === 'uv'
            ? `install uv with ${INSTALL_UV}, and run rehearse from the project checkout`
            : `install ${result.command.file} or fix "prefect.command" in rehearse.config`,
      },
    );
  }
  if (result.timedOut) {
    throw new RehearseError(
      'TIMEOUT',
      `${what} did not finish within ${Math.round((result.command.timeoutMs ?? 0) / 1000)} s`,
      {
        details: tailOf(result.stdout + result.stderr, 5),
        hint: 'raise timeouts.commandSeconds in rehearse.config, or check the server with `rehearse doctor`',
      },
    );
  }
}

/** Prefect prints errors to stdout; JSON only when the command succeeded. */
export function parseCliJson(result: ProcessResult): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (result.exitCode !== 0)
    return { ok: false, reason: `exit ${result.exitCode}: ${tailOf(result.stdout + result.stderr, 3).join(' / ')}` };
  try {
    return { ok: true, value: JSON.parse(result.stdout) as unknown };
  } catch {
    return { ok: false, reason: `printed something other than JSON: ${tailOf(result.stdout, 2).join(' / ')}` };
  }
}

/**
 * Paths at which two JSON values differ, over the keys both have (the CLI adds keys of its own),
 * for the CLI's rich-markup damage to -o json.
 */
export function diffPaths(a: unknown, b: unknown, prefix = '', out: string[] = [], max = 20): string[] {
  if (out.length >= max) return out;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = Object.keys(a).filter((key) => key in b);
    for (const key of keys)
      diffPaths(
        (a as Record<string, unknown>)[key],
        (b as Record<string, unknown>)[key],
        prefix ? `${prefix}.${key}` : key,
        out,
        max,
      );
  } else if (JSON.stringify(a) !== JSON.stringify(b)) {
    out.push(prefix || '(root)');
  }
  return out;
}
