import { z } from 'zod';

export const SUMMARY_FILE = 'summary.json';
export const SUMMARY_SCHEMA = 'rehearse.summary/v1';

export const STEP_NAMES = ['preflight', 'render', 'inspect', 'run', 'capture', 'validate', 'upload'] as const;
export type StepName = (typeof STEP_NAMES)[number];

/** The steps whose evidence a verdict rests on (preflight checks, upload files): a complete rehearsal has them all. */
export const EVIDENCE_STEPS: readonly StepName[] = STEP_NAMES.filter(
  (name) => name !== 'preflight' && name !== 'upload',
);

const VerdictSchema = z.enum(['pass', 'fail', 'inconclusive']);

const CheckRecordSchema = z.object({
  id: z.string(),
  step: z.string(),
  title: z.string(),
  verdict: VerdictSchema,
  expected: z.unknown().optional(),
  actual: z.unknown().optional(),
  reason: z.string(),
});

const CommandRecordSchema = z.object({
  kind: z.enum(['process', 'http']),
  display: z.string(),
  file: z.string().optional(),
  args: z.array(z.string()).optional(),
  /** What the command read on stdin, masked. */
  input: z.string().optional(),
  cwd: z.string().optional(),
  env: z.record(z.string(), z.string()).optional(),
  method: z.string().optional(),
  url: z.string().optional(),
  readOnly: z.boolean(),
  startedAt: z.string(),
  durationMs: z.number(),
  exitCode: z.number().nullable().optional(),
  status: z.number().optional(),
  timedOut: z.boolean().optional(),
  error: z.string().optional(),
  /** Printed by --dry-run, not run. */
  planned: z.boolean().optional(),
});
export type CommandRecord = z.infer<typeof CommandRecordSchema>;

const StepStatusSchema = z.enum(['ok', 'error', 'skipped', 'interrupted']);

const StepRecordSchema = z.object({
  name: z.string(),
  title: z.string(),
  status: StepStatusSchema,
  verdict: z.enum(['pass', 'fail', 'inconclusive', 'error', 'skipped']),
  startedAt: z.string(),
  durationMs: z.number(),
  files: z.array(z.string()).default([]),
  commands: z.array(CommandRecordSchema).default([]),
  checks: z.array(CheckRecordSchema).default([]),
  error: z.object({ code: z.string(), message: z.string(), hint: z.string().optional() }).optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});
export type StepRecord = z.infer<typeof StepRecordSchema>;

// 'abandoned': the command that worked in it died without a word (SIGKILL, a crash); set by the next command that looks.
const BundleStatusSchema = z.enum(['in-progress', 'partial', 'complete', 'interrupted', 'failed-to-run', 'abandoned']);
export type BundleStatus = z.infer<typeof BundleStatusSchema>;

export const SummarySchema = z.object({
  schema: z.literal(SUMMARY_SCHEMA),
  bundle: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  status: BundleStatusSchema,
  sealed: z.boolean(),
  verdict: z.enum(['pass', 'fail', 'inconclusive', 'incomplete']),
  exitCode: z.number().int(),
  tool: z.object({ name: z.literal('rehearse'), version: z.string(), node: z.string() }),
  prefect: z.object({ version: z.string().optional(), apiUrl: z.string().optional() }).default({}),
  target: z.record(z.string(), z.unknown()).default({}),
  steps: z.array(StepRecordSchema),
  checks: z.array(CheckRecordSchema),
  /** The bundle's in-toto attestation: whether it is signed and by which key (its id, never the key). */
  attestation: z
    .object({ file: z.string(), signed: z.boolean(), keyid: z.string().optional(), keyType: z.string().optional() })
    .optional(),
  /** Who was working in an abandoned bundle when it died, and when the next command noticed. */
  abandoned: z
    .object({
      pid: z.number().int().optional(),
      host: z.string().optional(),
      command: z.string().optional(),
      startedAt: z.string().optional(),
      detectedAt: z.string(),
    })
    .optional(),
});
export type Summary = z.infer<typeof SummarySchema>;
