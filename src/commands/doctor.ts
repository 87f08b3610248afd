import type { CommandResult } from '../report/events.js';
import { openSession, type SessionOptions } from '../session.js';
import { runDoctor } from '../steps/doctor.js';
import { doctorOutcome } from '../steps/doctor-kinds.js';

/** The runbook's troubleshooting section as checks. Writes nothing. */
export async function doctor(options: SessionOptions): Promise<CommandResult> {
  const { ctx } = await openSession('doctor', options);
  const checks = await runDoctor(ctx);
  checks.forEach((check) => ctx.reporter.emit({ type: 'check', check }));
  const { exitCode, verdict, line } = doctorOutcome(checks);
  return { command: 'doctor', exitCode, verdict, data: { checks }, lines: [line] };
}
