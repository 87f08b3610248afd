import type { CommandResult } from '../reporters/events.js';
import { runRehearsal, type SessionOptions } from '../session.js';
import { renderStep } from '../steps/render/render.js';

/** Runbook step 1 by hand: render the manifests, keep the output, tabulate drift. */
export async function render(options: SessionOptions): Promise<CommandResult> {
  return runRehearsal('render', [renderStep], options, { wholeRehearsal: false });
}
