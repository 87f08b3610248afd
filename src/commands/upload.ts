import type { CommandResult } from '../reporters/events.js';
import { runRehearsal, type SessionOptions } from '../session.js';
import { uploadStep } from '../steps/upload/upload.js';

/** Runbook step 6 by hand: copy the bundle, verify it on the far side, log it. It never talks to Prefect. */
export async function upload(options: SessionOptions, to: string | undefined): Promise<CommandResult> {
  const step = uploadStep(to === undefined ? {} : { to });
  return runRehearsal('upload', [step], options, {
    wholeRehearsal: false,
    prefect: false,
    upToDate: (ctx, bundle, summary) => step.upToDate(ctx, bundle, summary),
  });
}
