import type { Deployment } from '../prefect/schemas.js';
import { expectedFromManifest, type Manifest } from './manifest.js';

/** One compared key; `undefined` means the source does not have the key at all. */
export interface DriftRow {
  key: string;
  repo: unknown;
  rendered: unknown;
  live: unknown;
  drifted: boolean;
}

/** The compared values of one source, by key; a key the source lacks is simply absent. */
export type DriftValues = Map<string, unknown>;

/**
 * Deployment-level keys carry a `deployment.` prefix; parameter leaves are dotted paths into
 * `parameters` (so `concurrency_limit` is the flow parameter, `deployment.concurrency_limit` the
 * deployment's limit, and `concurrency_key` is the concurrency key, itself a flow parameter).
 */
const DEPLOYMENT_KEYS = [
  'deployment.concurrency_limit',
  'deployment.collision_strategy',
  'deployment.work_pool',
  'deployment.schedule_active',
] as const;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Leaves of a parameters object as dotted paths; arrays and empty objects are leaves. */
export function flattenParameters(
  value: Record<string, unknown>,
  prefix = '',
  out: DriftValues = new Map(),
): DriftValues {
  for (const [key, child] of Object.entries(value)) {
    const dotted = prefix ? `${prefix}.${key}` : key;
    if (isPlainObject(child) && Object.keys(child).length > 0) flattenParameters(child, dotted, out);
    else out.set(dotted, child);
  }
  return out;
}

function valuesOfManifest(manifest: Manifest): DriftValues {
  const expected = expectedFromManifest(manifest, manifest.name);
  const limit = expected.deploymentLimit ?? null;
  return new Map<string, unknown>([
    ['deployment.concurrency_limit', limit],
    // A strategy means nothing without a limit; hotpass renders none then, and Prefect keeps none.
    ['deployment.collision_strategy', limit === null ? null : expected.collisionStrategy],
    ['deployment.work_pool', expected.workPool ?? null],
    // Prefect creates a schedule active unless told otherwise; no schedule at all is nothing active.
    ['deployment.schedule_active', manifest.schedule ? (manifest.schedule.active ?? true) : false],
    ...flattenParameters(manifest.parameters),
  ]);
}

function valuesOfDeployment(deployment: Deployment): DriftValues {
  const gcl = deployment.global_concurrency_limit;
  return new Map<string, unknown>([
    // An inactive limit throttles nothing, so it counts as no limit.
    ['deployment.concurrency_limit', gcl?.active ? gcl.limit : null],
    ['deployment.collision_strategy', deployment.concurrency_options?.collision_strategy ?? (gcl ? 'ENQUEUE' : null)],
    ['deployment.work_pool', deployment.work_pool_name ?? null],
    ['deployment.schedule_active', deployment.schedules.some((s) => s.active)],
    ...flattenParameters(deployment.parameters),
  ]);
}

/** JSON with object keys sorted: the server stores parameters as JSONB, which reorders keys. */
export function canonicalJson(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  return JSON.stringify(value, (_key, node: unknown) =>
    isPlainObject(node)
      ? Object.fromEntries(
          Object.keys(node)
            .sort()
            .map((k) => [k, node[k]]),
        )
      : node,
  );
}

/** A row for every key any source has; drifted unless all three hold it with the same JSON value. */
function compareValues(repo: DriftValues, rendered: DriftValues, live: DriftValues): DriftRow[] {
  const parameterKeys = [...new Set([...repo.keys(), ...rendered.keys(), ...live.keys()])]
    .filter((key) => !(DEPLOYMENT_KEYS as readonly string[]).includes(key))
    .sort();
  return [...DEPLOYMENT_KEYS, ...parameterKeys].map((key) => {
    const [a, b, c] = [repo.get(key), rendered.get(key), live.get(key)];
    const missing = !(repo.has(key) && rendered.has(key) && live.has(key));
    const drifted = missing || canonicalJson(a) !== canonicalJson(b) || canonicalJson(b) !== canonicalJson(c);
    return { key, repo: a, rendered: b, live: c, drifted };
  });
}

/** Drift between the repository manifest, the staging manifest hotpass renders, and the live deployment. */
export function computeDrift(repo: Manifest, rendered: Manifest, live: Deployment): DriftRow[] {
  return compareValues(valuesOfManifest(repo), valuesOfManifest(rendered), valuesOfDeployment(live));
}

export const driftedRows = (rows: readonly DriftRow[]): DriftRow[] => rows.filter((row) => row.drifted);
