import type { CommandResult } from '../reporters/events.js';
import { runRehearsal, type SessionOptions } from '../session.js';
import { type ValidateOptions, validateStep } from '../steps/validate/validate.js';

/** Runbook step 5 by hand: measure the true peak and judge every limit; a violation exits 1. */
export async function validate(options: SessionOptions, step: ValidateOptions): Promise<CommandResult> {
  return runRehearsal('validate', [validateStep(step)], options, { wholeRehearsal: false });
}
