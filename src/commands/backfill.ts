import type { CommandResult } from '../reporters/events.js';
import { runRehearsal, type SessionOptions } from '../session.js';
import { captureStep } from '../steps/capture/capture.js';
import { preflightStep } from '../steps/doctor/doctor.js';
import { inspectStep } from '../steps/inspect/inspect.js';
import { renderStep } from '../steps/render/render.js';
import { runStep } from '../steps/run/run.js';
import type { Stage } from '../steps/runner.js';
import { uploadStep } from '../steps/upload/upload.js';
import { validateStep } from '../steps/validate/validate.js';

export interface BackfillOptions {
  to?: string;
}

/**
 * The whole rehearsal into one bundle. Preflight goes first so nothing is triggered on a broken
 * stack; render, inspect and run do not depend on each other, so they overlap (each `uv run`
 * costs seconds of Python start-up).
 */
export async function backfill(options: SessionOptions, step: BackfillOptions): Promise<CommandResult> {
  const stages: Stage[] = [
    preflightStep,
    [renderStep, inspectStep, runStep({ defaultBurst: 'exceed-limit' })],
    captureStep({ flowRunIds: [], allRuns: false }),
    validateStep({ flowRunIds: [], allRuns: false }),
    uploadStep({ ...(step.to ? { to: step.to } : {}), optional: true }),
  ];
  return runRehearsal('backfill', stages, options, { wholeRehearsal: true });
}
