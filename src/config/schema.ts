import { z } from 'zod';
import { DropSchema, WindowConfigSchema } from '../prefect/window.js';
import { FaultSpecSchema } from './faults.js';

/** How the runbook's hotpass applies the staging overlay; the render adds the dry-run flags its help lists. */
export const DEPLOY_COMMAND = [
  'uv',
  'run',
  'hotpass',
  'deploy',
  '--manifest-dir',
  'prefect/staging',
  '--flow',
  'backfill',
];

/** The runbook's render command: the deploy command with the dry-run flags of the runbook's hotpass. */
export const RUNBOOK_RENDER_COMMAND = [...DEPLOY_COMMAND, '--no-upload', '--dry-run'];

const isoDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a date as YYYY-MM-DD')
  // Only a well-formed date is checked for being real, so a malformed one gets one message.
  .refine(
    (value) =>
      !/^\d{4}-\d{2}-\d{2}$/.test(value) ||
      (!Number.isNaN(Date.parse(`${value}T00:00:00Z`)) &&
        new Date(`${value}T00:00:00Z`).toISOString().startsWith(value)),
    'is not a real date',
  );

/** rehearse.config.(json|yaml): every key optional, defaults are the runbook's names. */
export const ConfigSchema = z
  .object({
    projectDir: z.string().default('.'),
    evidenceRoot: z.string().default('dist/staging/backfill'),
    deployment: z.string().min(1).default('hotpass-backfill'),
    workPool: z.string().min(1).default('hotpass-backfill-pool'),
    manifest: z.string().default('prefect/deployments/hotpass-backfill.yaml'),
    manifestDir: z.string().default('prefect/staging'),
    prefect: z
      .object({
        command: z.array(z.string()).min(1).default(['uv', 'run', 'prefect']),
        apiUrl: z.string().url().optional(),
      })
      .strict()
      .default({ command: ['uv', 'run', 'prefect'] }),
    render: z
      .object({
        // How the project applies its manifests: rehearse reads its arguments and runs only its --help,
        // and its --dry-run when the help lists one; without one, rehearse renders the manifests itself.
        deployCommand: z.array(z.string()).min(1).default(DEPLOY_COMMAND),
        // A render command of your own; rehearse runs it only when declared read-only.
        command: z.array(z.string()).min(1).optional(),
        readOnly: z.boolean().default(false),
      })
      .strict()
      .default({ deployCommand: DEPLOY_COMMAND, readOnly: false }),
    run: z
      .object({
        since: isoDate.default('2024-01-01'),
        until: isoDate.default('2024-01-07'),
        logFile: z
          .string()
          .regex(/^[^/\\]+$/, 'expected a file name, not a path')
          .default('hotpass-e2e-staging.log'),
        workQueue: z.string().min(1).optional(),
        burst: z.number().int().positive().optional(),
        /** Runs one rehearsal may create: more would only load a staging server's database, not test a limit. */
        maxBurst: z.number().int().positive().default(50),
        parameters: z.record(z.string(), z.unknown()).default({}),
        window: WindowConfigSchema.optional(),
        drop: DropSchema.optional(),
      })
      .strict()
      .refine((run) => run.since <= run.until, {
        message: 'since is after until: the window runs from since to until',
        path: ['since'],
      })
      // Refused with the rest of the input, before a bundle exists: a refused usage leaves nothing behind.
      .superRefine((run, issues) => {
        if (run.burst === undefined || run.burst <= run.maxBurst) return;
        issues.addIssue({
          code: 'custom',
          path: ['burst'],
          message:
            `a burst of ${run.burst} runs is above the maximum of ${run.maxBurst}: use --burst ${run.maxBurst} ` +
            'or less, or raise run.maxBurst in rehearse.config',
        });
      })
      .default({
        since: '2024-01-01',
        until: '2024-01-07',
        logFile: 'hotpass-e2e-staging.log',
        maxBurst: 50,
        parameters: {},
      }),
    timeouts: z
      .object({
        commandSeconds: z.number().positive().default(120),
        watchSeconds: z.number().positive().default(900),
        apiSeconds: z.number().positive().default(30),
        /** The whole copy to one S3 target, every request and retry included. */
        uploadSeconds: z.number().positive().default(300),
        /**
         * How long validate waits for the slots a rehearsal took to come back (slots.released); by default the
         * server's deployment lease duration plus a minute, as read from it (360 s when it does not say).
         */
        slotReleaseSeconds: z.number().positive().optional(),
      })
      .strict()
      .default({ commandSeconds: 120, watchSeconds: 900, apiSeconds: 30, uploadSeconds: 300 }),
    upload: z
      .object({
        to: z.string().min(1).optional(),
        endpoint: z.string().url().optional(),
        region: z.string().optional(),
      })
      .strict()
      .default({}),
    /** Faults the run step injects into the burst (`rehearse backfill --fault`): see src/faults/. */
    faults: z.array(FaultSpecSchema).default([]),
    /** Guardrail values expected beyond the manifest; one set here also accepts a drift from the last passing bundle. */
    expect: z
      .object({
        deploymentLimit: z.number().int().positive().nullable().optional(),
        collisionStrategy: z.enum(['ENQUEUE', 'CANCEL_NEW']).nullable().optional(),
        workPool: z.string().min(1).nullable().optional(),
        workPoolLimit: z.number().int().positive().nullable().optional(),
        concurrencyKey: z.string().min(1).nullable().optional(),
        globalLimit: z.number().int().positive().nullable().optional(),
        globalLimitActive: z.boolean().nullable().optional(),
        parameters: z.record(z.string(), z.unknown()).optional(),
      })
      .strict()
      .default({}),
    ledgers: z
      .object({
        nextSteps: z.string().default('Next_Steps.md'),
        nextStepsLog: z.string().default('Next_Steps_Log.md'),
        rehearsalPlan: z.string().default('docs/operations/staging-rehearsal-plan.md'),
        owner: z.string().default('QA'),
      })
      .strict()
      .default({
        nextSteps: 'Next_Steps.md',
        nextStepsLog: 'Next_Steps_Log.md',
        rehearsalPlan: 'docs/operations/staging-rehearsal-plan.md',
        owner: 'QA',
      }),
  })
  .strict();

export type Config = z.infer<typeof ConfigSchema>;
export type ConfigInput = z.input<typeof ConfigSchema>;
