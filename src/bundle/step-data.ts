import { z } from 'zod';
import { RehearseError } from '../errors.js';
import { GuardrailSnapshotSchema } from '../guardrails/baseline.js';
import { formatIssues } from '../util/zod-issues.js';
import { parseWritten } from './evidence-json.js';
import type { Summary } from './summary.js';

/**
 * What each step hands on through its record in summary.json (`steps[].data`): one schema per step,
 * parsed by every reader (the steps that follow, the report, `rehearse verify`, the baseline), so a
 * bundle edited by hand or written by another rehearse is refused naming the field instead of read
 * through a cast. Fields added after the first bundles are optional; unknown fields are kept.
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

/**
 * A step's data record: the step's own fields, plus `interrupted` (set on any step's data when the step
 * was interrupted mid-way); unknown fields are kept.
 */
const stepDataSchema = <Fields extends z.ZodRawShape>(fields: Fields) =>
  z.looseObject({ interrupted: z.boolean().optional(), ...fields });

/** Text fields a step's data may lack (most were added after the first bundles), one optional string each. */
const optionalTexts = <Name extends string>(...names: Name[]) =>
  Object.fromEntries(names.map((name) => [name, z.string().optional()])) as Record<Name, z.ZodOptional<z.ZodString>>;

const PreflightDataSchema = stepDataSchema(optionalTexts('prefectClient', 'prefectServer', 'apiUrl'));

const RenderDataSchema = stepDataSchema({
  ...optionalTexts('render', 'why'),
  command: z.array(z.string()).optional(),
  exitCode: z.number().nullish(),
  renderedFiles: z.array(z.string()).optional(),
  drift: z.number().optional(),
  driftedKeys: z.array(z.string()).optional(),
});

const InspectDataSchema = stepDataSchema({
  ...optionalTexts('flow', 'deployment', 'fullName', 'deploymentId'),
  workPool: z.string().nullish(),
  concurrencyKey: z.string().nullish(),
  deploymentLimit: z.number().nullish(),
});

const RunDataSchema = stepDataSchema({
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
});

const CaptureDataSchema = stepDataSchema({
  flowRunIds: z.array(z.string()).optional(),
  runsWithHistory: z.number().optional(),
  screenshot: z.string().optional(),
  url: z.string().nullish(),
});

const ValidateDataSchema = stepDataSchema({
  /** The guardrails validate read (absent from older bundles); the next rehearsal's baseline. */
  guardrails: GuardrailSnapshotSchema.optional(),
  baseline: z.string().nullish(),
  peak: z.number().optional(),
  peakWindows: z.array(z.unknown()).optional(),
  holderPeak: z.number().optional(),
  occupy: z.number().nullish(),
  submitted: z.number().optional(),
  others: z.array(z.string()).optional(),
  stuck: z.array(z.string()).optional(),
  limits: z.record(z.string(), z.number().nullable()).optional(),
});

const UploadDataSchema = stepDataSchema({
  destination: z.string().optional(),
  uploaded: z.number().optional(),
  /** A count of files the far copy already had, or why the step was skipped. */
  skipped: z.union([z.number(), z.string()]).optional(),
  verified: z.number().optional(),
  mismatches: z.array(z.unknown()).optional(),
  unlisted: z.array(z.unknown()).optional(),
});

const CleanupDataSchema = stepDataSchema({});

export const STEP_DATA_SCHEMAS = {
  preflight: PreflightDataSchema,
  render: RenderDataSchema,
  inspect: InspectDataSchema,
  run: RunDataSchema,
  capture: CaptureDataSchema,
  validate: ValidateDataSchema,
  upload: UploadDataSchema,
  cleanup: CleanupDataSchema,
} as const;
export type StepName = keyof typeof STEP_DATA_SCHEMAS;
/** What a reader gets of a step's data. */
export type StepData<N extends StepName> = z.output<(typeof STEP_DATA_SCHEMAS)[N]>;
/** What a step may write as its data. */
export type StepDataInput<N extends StepName> = z.input<(typeof STEP_DATA_SCHEMAS)[N]>;
export type RunStepData = StepData<'run'>;

const isStepName = (name: string): name is StepName => Object.hasOwn(STEP_DATA_SCHEMAS, name);

/**
 * The data step `name` recorded in this summary, parsed with its schema; undefined when the bundle has no
 * such step or it recorded none. What is not what rehearse wrote is refused with BUNDLE_INVALID naming the
 * field (or through `refuse`, given `field: problem`, for a reader with its own advice).
 */
export function stepData<N extends StepName>(
  summary: Summary,
  name: N,
  refuse?: (problem: string) => RehearseError,
): StepData<N> | undefined {
  const raw = summary.steps.find((s) => s.name === name)?.data;
  if (raw === undefined) return undefined;
  const refusal =
    refuse ??
    ((problem: string) =>
      new RehearseError(
        'BUNDLE_INVALID',
        `summary.json of bundle ${summary.bundle}: the ${name} step's data is not what rehearse wrote (${problem})`,
        { hint: `start a new bundle with --new-bundle, or rerun \`rehearse ${name}\` on this one` },
      ));
  return parseWritten(STEP_DATA_SCHEMAS[name], raw, refusal, 'data') as StepData<N>;
}

/**
 * Like stepData, for readers that must not stop: `rehearse verify`, which reports every problem rather than
 * stopping at the first, and the job summary:
 * data that is not what rehearse wrote reads as none here (verify reports it through stepDataProblems).
 */
export function stepDataIfValid<N extends StepName>(name: N, raw: unknown): Partial<StepData<N>> {
  const parsed = STEP_DATA_SCHEMAS[name].safeParse(raw ?? {});
  return parsed.success ? (parsed.data as StepData<N>) : {};
}

/** Each step record whose data does not match its step's schema, as `steps.N.data.field: problem`. */
export function stepDataProblems(summary: Summary): string[] {
  return summary.steps.flatMap((step, index) => {
    if (step.data === undefined || !isStepName(step.name)) return [];
    const parsed = STEP_DATA_SCHEMAS[step.name].safeParse(step.data);
    if (parsed.success) return [];
    const issues = parsed.error.issues.map((issue) => ({ ...issue, path: ['steps', index, 'data', ...issue.path] }));
    return formatIssues(issues).map((line) => `the ${step.name} step's data: ${line}`);
  });
}
