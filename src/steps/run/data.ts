import { type RunStepData, stepData } from '../../bundle/step-data.js';
import type { Summary } from '../../bundle/summary.js';

export type { RunStepData, ScreenshotRecord } from '../../bundle/step-data.js';

/** The run step's hand-off in this summary (bundle/step-data.ts); undefined when the bundle has no run step yet. */
export function runStepData(summary: Summary): RunStepData | undefined {
  return stepData(summary, 'run');
}
