import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import type { Check } from './verdict.js';

/**
 * Every guardrail value a rehearsal saw on the server, kept in the validate step's data (`guardrails`):
 * the next rehearsal's baseline parses it with this schema before comparing anything with it.
 */
export const GuardrailSnapshotSchema = z.object({
  deploymentLimit: z.number().nullable(),
  collisionStrategy: z.string().nullable(),
  workPool: z.string().nullable(),
  workPoolLimit: z.number().nullable(),
  concurrencyKey: z.string().nullable(),
  globalLimit: z.number().nullable(),
  globalLimitActive: z.boolean().nullable(),
  parameters: z.record(z.string(), z.unknown()),
});
export type GuardrailSnapshot = z.infer<typeof GuardrailSnapshotSchema>;

/** Values the configuration expects (`expect:`), which also accept a drift from the baseline. */
export type ExpectedValues = Partial<GuardrailSnapshot>;

export interface Baseline {
  bundle: string;
  createdAt: string;
  snapshot: GuardrailSnapshot;
}

const FIELDS: { key: keyof GuardrailSnapshot; id: string; label: string }[] = [
  { key: 'deploymentLimit', id: 'deployment_limit', label: 'deployment limit' },
  { key: 'collisionStrategy', id: 'collision_strategy', label: 'collision strategy' },
  { key: 'workPool', id: 'work_pool', label: 'work pool' },
  { key: 'workPoolLimit', id: 'work_pool_limit', label: 'work-pool limit' },
  { key: 'concurrencyKey', id: 'concurrency_key', label: 'concurrency key' },
  { key: 'globalLimit', id: 'global_limit', label: 'global limit' },
  { key: 'globalLimitActive', id: 'global_limit_active', label: 'global limit active' },
  { key: 'parameters', id: 'parameters', label: 'deployment parameters' },
];

const show = (value: unknown): string => (typeof value === 'string' ? value : (JSON.stringify(value) ?? 'none'));

/** Keys whose values differ between two parameter sets, so a drift names what changed, not the whole set. */
function changedKeys(before: unknown, after: unknown): string {
  if (!before || !after || typeof before !== 'object' || typeof after !== 'object') {
    return `${show(before)} → ${show(after)}`;
  }
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const a = before as Record<string, unknown>;
  const b = after as Record<string, unknown>;
  return keys
    .filter((k) => !isDeepStrictEqual(a[k], b[k]))
    .map((k) => `${k}: ${show(a[k])} → ${show(b[k])}`)
    .join(', ');
}

/**
 * `expect.*`: each value the configuration expects, against the server. `baseline.*`: each guardrail
 * against the last passing rehearsal; a drift fails unless `expect` names the new value.
 */
export function judgeDrift(
  current: GuardrailSnapshot,
  baseline: Baseline | undefined,
  expected: ExpectedValues,
): Check[] {
  const checks: Check[] = [];
  for (const { key, id, label } of FIELDS) {
    const want = expected[key];
    if (want === undefined) continue;
    const found = current[key];
    const held = isDeepStrictEqual(want, found);
    const title = `${label} as the configuration expects`;
    const reason = held
      ? `${label} ${show(found)}, as expect.${key} says`
      : `expect.${key} is ${show(want)}, the server has ${show(found)}`;
    checks.push({
      id: `expect.${id}`,
      step: 'validate',
      title,
      verdict: held ? 'pass' : 'fail',
      expected: want,
      actual: found,
      reason,
    });
  }
  if (!baseline) return checks;
  for (const field of FIELDS) checks.push(judgeField(field, current, baseline, expected));
  return checks;
}

function judgeField(
  field: (typeof FIELDS)[number],
  current: GuardrailSnapshot,
  baseline: Baseline,
  expected: ExpectedValues,
): Check {
  const { key, id, label } = field;
  const before = baseline.snapshot[key];
  const now = current[key];
  const title = `${label} unchanged since the last passing rehearsal`;
  const base = { id: `baseline.${id}`, step: 'validate', title, expected: before, actual: now };
  if (isDeepStrictEqual(before, now)) {
    return {
      ...base,
      verdict: 'pass',
      reason: `${label} ${key === 'parameters' ? 'unchanged' : show(now)} as in ${baseline.bundle}`,
    };
  }
  const change = `${label} changed ${key === 'parameters' ? changedKeys(before, now) : `${show(before)} → ${show(now)}`}`;
  const since = `since ${baseline.bundle}`;
  if (expected[key] !== undefined && isDeepStrictEqual(expected[key], now)) {
    return { ...base, verdict: 'pass', reason: `${change} ${since}, accepted by expect.${key}` };
  }
  const fix = `restore it, or accept it with expect.${key} in rehearse.config`;
  return { ...base, verdict: 'fail', reason: `${change} ${since}, the last passing rehearsal: ${fix}` };
}
