import type { Context } from '../../context.js';
import { tailOf } from '../../errors.js';
import { prefectCommand } from '../../prefect/commands.js';
import { prefectLine } from '../../prefect/fixes.js';
import { cliOf } from '../prefect-cli.js';
import type { DoctorCheck } from './kinds.js';

/** What `doctor --fix` did with one failed check's fix: applied (and how it ended), declined, or only printed. */
export interface FixRecord {
  check: string;
  command: string;
  outcome: 'applied' | 'failed' | 'declined' | 'not-asked' | 'manual';
  exitCode?: number | null;
  output?: string[];
}

export interface FixOptions {
  /** Apply without asking (CI). */
  yes: boolean;
  /** Asks the operator on a terminal; undefined where nobody can answer (no terminal). */
  ask?: (question: string) => Promise<boolean>;
}

/**
 * `doctor --fix`: the failed checks' safe fixes run one command at a time, each printed before it runs
 * (the runner reports it) and asked for first unless `--yes`; a fix rehearse will not apply (renaming a
 * key in the manifest, starting a worker) is listed as manual. The first failed command stops that fix.
 */
export async function applyFixes(ctx: Context, checks: readonly DoctorCheck[], options: FixOptions) {
  const records: FixRecord[] = [];
  const cli = cliOf(ctx);
  for (const check of checks.filter((c) => c.verdict === 'fail' && c.fix)) {
    if (ctx.signal.aborted) break;
    const command = ctx.redact(
      check.apply ? check.apply.map((args) => prefectLine(cli.base, args)).join(' && ') : (check.fix as string),
    );
    if (!check.apply) {
      records.push({ check: check.id, command, outcome: 'manual' });
      continue;
    }
    if (!options.yes) {
      const answer = options.ask ? await options.ask(`apply the fix for ${check.id}: ${command}?`) : undefined;
      if (answer !== true) {
        records.push({ check: check.id, command, outcome: answer === false ? 'declined' : 'not-asked' });
        continue;
      }
    }
    records.push(await runFix(ctx, check.id, command, check.apply));
  }
  return records;
}

async function runFix(ctx: Context, check: string, command: string, steps: string[][]): Promise<FixRecord> {
  for (const args of steps) {
    const result = await ctx.runner.run(prefectCommand(cliOf(ctx), args, false));
    if (result.exitCode !== 0 || result.timedOut) {
      const output = tailOf(ctx.redact(`${result.stdout}\n${result.stderr}`));
      return { check, command, outcome: 'failed', exitCode: result.exitCode, output };
    }
  }
  return { check, command, outcome: 'applied', exitCode: 0 };
}

/** One line per fix for the terminal and the summary. */
export function describeFix(record: FixRecord): string {
  switch (record.outcome) {
    case 'applied':
      return `fixed ${record.check}: ${record.command}`;
    case 'failed':
      return `fix for ${record.check} failed (exit ${record.exitCode ?? 'none'}): ${record.command}${record.output?.length ? `\n    ${record.output.join('\n    ')}` : ''}`;
    case 'declined':
      return `not applied (declined): ${record.check}: ${record.command}`;
    case 'not-asked':
      return `not applied (no terminal to ask; --yes applies it): ${record.check}: ${record.command}`;
    case 'manual':
      return `yours to do (rehearse does not apply it): ${record.check}: ${record.command}`;
  }
}
