import type { CommandResult } from '../report/events.js';
import { runRehearsal, type SessionOptions } from '../session.js';
import { uploadStep } from '../steps/upload.js';

/** Runbook step 6 by hand: copy the bundle, verify it on the far side, log it. */
export async function upload(options: SessionOptions, to: string | undefined): Promise<CommandResult> {
  return runRehearsal('upload', [uploadStep(to === undefined ? {} : { to })], options, { wholeRehearsal: false });
}
