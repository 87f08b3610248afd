import type { CommandResult } from '../reporters/events.js';
import { runRehearsal, type SessionOptions } from '../session.js';
import { inspectStep } from '../steps/inspect/inspect.js';

/** Runbook step 2 by hand: export the live deployment and judge its guardrails. */
export async function inspect(options: SessionOptions): Promise<CommandResult> {
  return runRehearsal('inspect', [inspectStep], options, { wholeRehearsal: false });
}
