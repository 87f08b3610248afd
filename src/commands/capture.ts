import type { CommandResult } from '../reporters/events.js';
import { runRehearsal, type SessionOptions } from '../session.js';
import { type CaptureOptions, captureStep } from '../steps/capture/capture.js';

/** Runbook step 4 by hand: metadata, state histories and a screenshot of the rehearsal's runs. */
export async function capture(options: SessionOptions, step: CaptureOptions): Promise<CommandResult> {
  return runRehearsal('capture', [captureStep(step)], options, { wholeRehearsal: false });
}
