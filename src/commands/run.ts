import type { CommandResult } from '../reporters/events.js';
import { runRehearsal, type SessionOptions } from '../session.js';
import { runStep } from '../steps/run/run.js';

/** Runbook step 3 by hand: a bounded backfill run (or a burst), watched to the end. */
export async function run(options: SessionOptions): Promise<CommandResult> {
  return runRehearsal('run', [runStep({ defaultBurst: 'one' })], options, { wholeRehearsal: false });
}
