import { type RunStepData, stepData } from '../evidence/step-data.js';
import type { Summary } from '../evidence/summary.js';

export type { RunStepData, ScreenshotRecord } from '../evidence/step-data.js';

/** The run step's hand-off in this summary (evidence/step-data.ts); undefined when the bundle has no run step yet. */
export function runStepData(summary: Summary): RunStepData | undefined {
  return stepData(summary, 'run');
}
