import { ExitCode } from '../errors.js';
import type { CommandResult } from '../report/events.js';
import { openSession, type SessionOptions } from '../session.js';
import { runDoctor } from '../steps/doctor.js';

const warned = (checks: { verdict: string }[]): string => {
  const n = checks.filter((c) => c.verdict === 'inconclusive').length;
  return n ? ` (${n} with a warning)` : '';
};

/** The runbook's troubleshooting section as checks. Writes nothing. */
export async function doctor(options: SessionOptions): Promise<CommandResult> {
  const { ctx } = await openSession('doctor', options);
  const checks = await runDoctor(ctx);
  checks.forEach((check) => ctx.reporter.emit({ type: 'check', check }));
  const failed = checks.filter((c) => c.verdict === 'fail');
  return {
    command: 'doctor',
    exitCode: failed.length ? ExitCode.couldNotRun : ExitCode.ok,
    verdict: failed.length ? 'error' : 'pass',
    data: { checks },
    lines: [
      failed.length
        ? `doctor: ${failed.length} of ${checks.length} checks failed; the rehearsal would not run`
        : `doctor: all ${checks.length} checks passed${warned(checks)}`,
    ],
  };
}
