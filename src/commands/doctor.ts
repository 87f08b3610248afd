import { createInterface } from 'node:readline/promises';
import type { Context } from '../context.js';
import type { CommandResult } from '../reporters/events.js';
import { openSession, type SessionOptions } from '../session.js';
import { runDoctor } from '../steps/doctor/doctor.js';
import { applyFixes, describeFix, type FixRecord } from '../steps/doctor/fix.js';
import { doctorOutcome } from '../steps/doctor/kinds.js';

export interface DoctorOptions {
  /** Apply the safe fixes of the failed checks, then check again. */
  fix?: boolean;
  /** With fix: apply without asking. */
  yes?: boolean;
  /** Asks on a terminal (tests pass their own); by default stdin when it is a terminal. */
  ask?: (question: string) => Promise<boolean>;
}

/** A y/N question on the terminal, answered no on Ctrl-C. */
function terminalAsk(ctx: Context): ((question: string) => Promise<boolean>) | undefined {
  if (!process.stdin.isTTY) return undefined;
  return async (question) => {
    const rl = createInterface({ input: process.stdin, output: process.stderr });
    try {
      const answer = await rl.question(`${question} [y/N] `, { signal: ctx.signal });
      return /^y(es)?$/i.test(answer.trim());
    } catch {
      return false;
    } finally {
      rl.close();
    }
  };
}

/** The runbook's troubleshooting section as checks; with `--fix`, the safe fixes applied and checked again. */
export async function doctor(options: SessionOptions, doctorOptions: DoctorOptions = {}): Promise<CommandResult> {
  const { ctx } = await openSession('doctor', options);
  let checks = await runDoctor(ctx);
  checks.forEach((check) => ctx.reporter.emit({ type: 'check', check }));
  let fixes: FixRecord[] | undefined;
  const lines: string[] = [];
  if (doctorOptions.fix && checks.some((c) => c.verdict === 'fail')) {
    const ask = doctorOptions.ask ?? terminalAsk(ctx);
    fixes = await applyFixes(ctx, checks, { yes: Boolean(doctorOptions.yes), ...(ask ? { ask } : {}) });
    lines.push(...fixes.map(describeFix));
    if (fixes.some((f) => f.outcome === 'applied')) {
      checks = await runDoctor(ctx);
      lines.push('checked again after the fixes:');
      checks.forEach((check) => ctx.reporter.emit({ type: 'check', check }));
    }
  }
  const { exitCode, verdict, line } = doctorOutcome(checks);
  return {
    command: 'doctor',
    exitCode,
    verdict,
    data: { checks, ...(fixes ? { fixes } : {}) },
    lines: [...lines, line],
  };
}
