import { z } from 'zod';
import { messageOf, RehearseError } from '../errors.js';
import { formatIssues } from '../util/zod-issues.js';

const StrategySchema = z.enum(['ENQUEUE', 'CANCEL_NEW']);

/** The keys of a hotpass deployment manifest that carry guardrails; the rest passes through. */
export const ManifestSchema = z
  .object({
    id: z.string().optional(),
    name: z.string(),
    flow: z.string().optional(),
    work_pool: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).default({}),
    schedule: z.object({ active: z.boolean().optional() }).passthrough().nullish(),
    concurrency_limit: z
      .union([
        z.number().int().positive(),
        z.object({ limit: z.number().int().positive(), collision_strategy: StrategySchema.optional() }).passthrough(),
      ])
      .nullish(),
    collision_strategy: StrategySchema.optional(),
  })
  .passthrough();
export type Manifest = z.infer<typeof ManifestSchema>;

/** What the repository promises, derived from the manifest: never hard-coded. */
export interface ExpectedGuardrails {
  source: string;
  deploymentName: string;
  workPool: string | undefined;
  deploymentLimit: number | undefined;
  collisionStrategy: 'ENQUEUE' | 'CANCEL_NEW';
  concurrencyKey: string | undefined;
  /** parameters.concurrency_limit: the slots the flow's global limit is meant to have. */
  keyLimit: number | undefined;
  backfill: unknown;
  scheduleActive: boolean | undefined;
  parameters: Record<string, unknown>;
}

export function getPath(value: unknown, dotted: string): unknown {
  return dotted
    .split('.')
    .reduce<unknown>(
      (node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined),
      value,
    );
}

export function expectedFromManifest(manifest: Manifest, source: string): ExpectedGuardrails {
  const limit = manifest.concurrency_limit;
  const limitValue = typeof limit === 'number' ? limit : limit?.limit;
  const strategy = (typeof limit === 'object' && limit?.collision_strategy) || manifest.collision_strategy || 'ENQUEUE';
  const params = manifest.parameters;
  const keyLimit = params.concurrency_limit;
  return {
    source,
    deploymentName: manifest.name,
    workPool: manifest.work_pool,
    deploymentLimit: limitValue ?? undefined,
    collisionStrategy: strategy,
    concurrencyKey: typeof params.concurrency_key === 'string' ? params.concurrency_key : undefined,
    keyLimit: typeof keyLimit === 'number' ? keyLimit : undefined,
    backfill: getPath(params, 'parameters.pipeline.backfill'),
    scheduleActive: manifest.schedule?.active,
    parameters: params,
  };
}

export async function parseManifestText(text: string, source: string): Promise<Manifest> {
  const { parse } = await import('yaml');
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (error) {
    throw new RehearseError('CONFIG_INVALID', `manifest ${source} is not valid YAML`, {
      details: [messageOf(error).split('\n')[0] ?? ''],
    });
  }
  const parsed = ManifestSchema.safeParse(doc);
  if (!parsed.success) {
    throw new RehearseError('CONFIG_INVALID', `manifest ${source} does not describe a deployment`, {
      details: formatIssues(parsed.error.issues),
      hint: 'point "manifest" in rehearse.config at the deployment manifest (prefect/deployments/<name>.yaml)',
    });
  }
  return parsed.data;
}
