import { z } from 'zod';
import { RehearseError } from '../errors.js';
import { parseWritten } from '../evidence/evidence-json.js';
import type { Summary } from '../evidence/summary.js';

/**
 * What the run step hands to capture, validate and cleanup through its record in summary.json:
 * one schema, parsed where it is read, so a bundle edited by hand or written by an older
 * rehearse is refused with a message instead of read through a cast.
 */
const ScreenshotRecordSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('captured'),
    url: z.string(),
    width: z.number(),
    height: z.number(),
    matchedText: z.string().optional(),
  }),
  z.object({ status: z.literal('missing'), url: z.string(), reason: z.string() }),
]);
export type ScreenshotRecord = z.infer<typeof ScreenshotRecordSchema>;

const RunStepDataSchema = z
  .object({
    fullName: z.string().optional(),
    deploymentId: z.string().nullish(),
    primaryRunId: z.string().nullish(),
    flowRunIds: z.array(z.string()).default([]),
    burst: z.number().int().optional(),
    strictestLimit: z.number().nullish(),
    startedAt: z.string().nullish(),
    endedAt: z.string().optional(),
    runUrl: z.string().nullish(),
    workQueue: z.string().nullish(),
    screenshot: ScreenshotRecordSchema.optional(),
    /** Active slots of the deployment's limit and its key's before the burst (absent from older bundles). */
    slotsBefore: z.array(z.object({ limit: z.string(), activeSlots: z.number().int() })).optional(),
  })
  .passthrough();
export type RunStepData = z.infer<typeof RunStepDataSchema>;

/** The run step's hand-off in this summary; undefined when the bundle has no run step yet. */
export function runStepData(summary: Summary): RunStepData | undefined {
  const raw = summary.steps.find((s) => s.name === 'run')?.data;
  if (raw === undefined) return undefined;
  const refuse = (problem: string) =>
    new RehearseError(
      'BUNDLE_INVALID',
      `summary.json of bundle ${summary.bundle}: the run step's data is not what rehearse wrote (${problem})`,
      { hint: 'start a new bundle with --new-bundle, or rerun `rehearse run` on this one' },
    );
  return parseWritten(RunStepDataSchema, raw, refuse, 'data');
}
