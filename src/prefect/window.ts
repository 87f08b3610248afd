import { z } from 'zod';

/** How the backfill window (since..until) becomes flow parameters; see src/prefect/parameters.ts. */
const WINDOW_MODES = ['auto', 'since-until', 'runs', 'template', 'none'] as const;
export type WindowMode = (typeof WINDOW_MODES)[number];

export const WindowConfigSchema = z
  .object({
    mode: z.enum(WINDOW_MODES).default('auto'),
    /** The `version` of each `{run_date, version}` entry in runs mode. */
    version: z.string().min(1).optional(),
    /** mode template: flow parameters with {since}, {until} and {date} placeholders. */
    parameters: z.record(z.string(), z.unknown()).optional(),
  })
  .strict()
  .refine((w) => w.mode !== 'template' || w.parameters !== undefined, {
    message: "mode 'template' needs parameters: the flow parameters, with {since}, {until} or {date} placeholders",
    path: ['parameters'],
  })
  .refine((w) => w.mode === 'template' || w.parameters === undefined, {
    message: 'parameters is read only with mode: template (or move them to run.parameters)',
    path: ['parameters'],
  });
export type WindowConfig = z.infer<typeof WindowConfigSchema>;

/** Names of flow parameters never to send, whatever set them (window, run.parameters, --param). */
export const DropSchema = z.array(z.string().min(1));
